// libFuzzer target: config.json (ModelConfig::parse) and quantization_config (QuantConfig).
// awqx::Error is the only allowed failure; a parsed QuantConfig must survive to_json/from_json.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "awqx/config.hpp"
#include "awqx/error.hpp"
#include "io/config_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto c = awqx::ModelConfig::parse(text, "config.json");
    if (c.head_dim <= 0 || c.num_attention_heads % c.num_key_value_heads != 0) __builtin_trap();
  } catch (const awqx::Error&) {
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  try {
    const auto q = awqx::quant_config_from_json(j, "config.json");
    const auto q2 = awqx::quant_config_from_json(awqx::to_json(q), "config.json");
    if (q2.bits != q.bits || q2.group_size != q.group_size || q2.zero_point != q.zero_point ||
        q2.version != q.version || q2.modules_to_not_convert != q.modules_to_not_convert)
      __builtin_trap();
  } catch (const awqx::Error&) {
  }
  return 0;
}

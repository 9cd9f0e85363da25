// libFuzzer target: input = tokenizer.json bytes, a NUL byte, then text to encode (any bytes,
// including invalid UTF-8). Loading may throw awqx::Error; nothing may crash, hang or leak,
// and whatever loads must encode, decode and stream any text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  const std::string_view json = all.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? std::string_view() : all.substr(nul + 1);
  try {
    const auto tok = awqx::Tokenizer::from_json_string(json, "fuzz.json");
    const auto ids = tok->encode(text, true);
    for (int32_t id : ids)
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();  // ids must be in range
    (void)tok->decode(ids);
    awqx::StreamDecoder sd(*tok, true);
    for (int32_t id : ids) (void)sd.push(id);
    (void)sd.flush();
    (void)tok->decode({-1, 0, tok->vocab_size(), INT32_MAX});
    (void)tok->piece_to_id(text);
  } catch (const awqx::Error&) {
  }
  return 0;
}

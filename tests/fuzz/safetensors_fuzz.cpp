// libFuzzer target: safetensors header validation + every tensor read, and index.json parsing.
// First byte picks the mode so one corpus covers both; awqx::Error is the only allowed outcome
// besides success.
#include <cstddef>
#include <cstdint>
#include <string>

#include "awqx/error.hpp"
#include "awqx/safetensors.hpp"
#include "io/safetensors_index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool index_mode = data[0] == 'I';
  ++data;
  --size;
  try {
    if (index_mode) {
      const auto m = awqx::parse_safetensors_index(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
      for (const auto& [k, v] : m)
        if (v.empty() || v.find('/') != std::string::npos) __builtin_trap();  // must have been rejected
      return 0;
    }
    auto f = awqx::SafetensorsFile::parse("fuzz.safetensors", data, size);
    volatile uint32_t sink = 0;
    for (const auto& name : f->names()) {
      const awqx::TensorView t = f->get(name);
      // The view must lie inside the input: touch its first and last byte (ASan checks).
      if (t.nbytes) {
        const auto* p = static_cast<const uint8_t*>(t.data);
        if (p < data || p + t.nbytes > data + size) __builtin_trap();
        sink = sink + p[0] + p[t.nbytes - 1];
      }
      if (t.dtype == awqx::DType::F32 || t.dtype == awqx::DType::F16 || t.dtype == awqx::DType::BF16) {
        if (t.numel() > (1 << 20)) continue;  // cannot happen within max_len, keeps memory bounded
        const auto v = awqx::to_f32(t);
        for (float x : v) sink = sink + static_cast<uint32_t>(x == x);
      }
    }
    (void)f->metadata();
  } catch (const awqx::Error&) {
  }
  return 0;
}

// Helpers for the IO tests: hand-built safetensors byte strings (independent of our writer).
#pragma once
#include <cstdint>
#include <string>

namespace awqx_io_test {

// 8-byte little-endian header length + header + data, exactly as the format specifies.
inline std::string st_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

}  // namespace awqx_io_test

// libFuzzer target: calibration file readers (quant/calib_data.hpp). First byte picks the format:
// .txt, .jsonl, .jsonl.zst with the rest as the raw (compressed) bytes, or .jsonl.zst with the
// rest compressed here first (so the fuzzer reaches the JSONL parser through a valid frame).
// awqx::Error is the only allowed failure; whatever parses must be non-empty, stripped UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>

#include <zstd.h>

#include "awqx/error.hpp"
#include "quant/calib_data.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 4;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  static const char* const kNames[] = {"fuzz.txt", "fuzz.jsonl", "fuzz.jsonl.zst", "fuzz.jsonl.zst"};
  if (mode == 3) {
    // One compression context for the whole run: creating it per input cost most of the time.
    static ZSTD_CCtx* const cctx = ZSTD_createCCtx();
    std::string z(ZSTD_compressBound(bytes.size()), '\0');
    const size_t n = ZSTD_compressCCtx(cctx, z.data(), z.size(), bytes.data(), bytes.size(), 1);
    if (ZSTD_isError(n)) __builtin_trap();
    z.resize(n);
    bytes = std::move(z);
  }
  try {
    // 64 MiB bound: a zstd bomb of max_len input must be refused, not exhaust the fuzzer's RSS.
    const auto samples = awqx::quant::parse_calib_bytes(bytes, kNames[mode], size_t{64} << 20);
    if (samples.empty()) __builtin_trap();
    for (const auto& s : samples) {
      if (s.empty()) __builtin_trap();
      const char f = s.front(), b = s.back();
      if (f == ' ' || f == '\n' || f == '\t' || b == ' ' || b == '\n' || b == '\t') __builtin_trap();
    }
  } catch (const awqx::Error&) {
  }
  return 0;
}

// Shared by the AMX int4 kernels (int8 and bf16 paths): support check, K step, M chunking and
// the per-thread scratch that holds unpacked weight tiles.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "amx/amx_tiles.hpp"
#include "awqx/kernels.hpp"
#include "kernels/growing_buffer.hpp"

namespace awqx::kernels {

// Auto-selection crossovers (KernelEntry::min_m), measured with `awqx bench-kernels --m
// 2,4,8,16,32,128,512` (Llama-2-7B shapes, total ms over the four) on a 2-core Xeon with AMX
// (README "AMX"): VNNI 25 / 51 / 119 ms at m = 8 / 16 / 32, AMX int8 75 / 61 / 79, AMX bf16
// 74 / 85 / 106. Below m = 32 the VNNI GEMM wins: the per-call weight unpack (int4 → s8/bf16
// tiles, a full pass over the weights) is not amortized over enough rows.
constexpr int kAmxInt8MinM = 32;
constexpr int kAmxBf16MinM = 32;

// K step of one tile multiply: 64 int8 (or 32 bf16 pairs) per A-tile row, halved when the group
// is not a multiple of 64 (g = 32), so a group always ends on a step boundary.
inline int amx_k_step(int group) { return group % 64 == 0 ? 64 : 32; }

// Rows per M chunk: the chunk's activations (rows × row_bytes) stay in L2 (~1 MiB) beside the
// unpacked weight tiles; a multiple of 32 (the row blocking).
inline int64_t amx_m_chunk(int64_t row_bytes) {
  const int64_t rows = (int64_t{1} << 20) / (row_bytes > 0 ? row_bytes : 1) / 32 * 32;
  return rows < 32 ? 32 : rows;
}

// This thread's buffer for unpacked weight tiles.
inline uint8_t* amx_scratch(size_t bytes) {
  thread_local GrowingBuffer scratch;
  return scratch.get(bytes);
}

inline std::string supported_amx(const Problem& p) {
  if (p.group_size % 32 != 0) return fmt::format("group size {} is not a multiple of 32", p.group_size);
  return supported_q4r(p);
}

}  // namespace awqx::kernels

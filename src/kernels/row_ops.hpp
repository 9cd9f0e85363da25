// Row-kernel interface for attention and SwiGLU, declared by the kernels layer so per-ISA code
// (simd/<isa>/ops_<isa>.cpp) implements it without knowing the model. The graph
// (src/model/ops.cpp) picks one set per process and keeps the portable versions as the oracle
// (tests/model/ops_test.cpp).
#pragma once
#include <cstdint>

#include "awqx/kv_cache.hpp"

namespace awqx::kernels {

// Where the cached keys/values of kv head h live: position p at
//   base + h*head_stride + table[p / block_size]*block_stride + (p % block_size)*pos_stride
// (head_dim contiguous elements of `type`; the same for v). table == nullptr: one block, i.e.
// base + h*head_stride + p*pos_stride. The paged pool (awqx/kv_cache.hpp) and the calibrator's
// token-major fp32 rows are both expressed this way, so there is one attention implementation.
struct KvRows {
  const void* k;
  const void* v;
  const int32_t* table = nullptr;
  int64_t block_size = 0, block_stride = 0, pos_stride = 0, head_stride = 0;
  KvType type = KvType::f32;
};

// The cached positions each row of a tile attends: row r the first n0 + r·step. step 1: the
// consecutive positions of one sequence (causal prefill); step 0: rows at one position (the query
// heads of one GQA group in decode, which then read their shared K/V once).
struct RowKeys {
  int64_t n0 = 1, step = 1;
  int64_t count(int64_t r) const { return n0 + r * step; }
};

// Query rows r < rows (q + r*q_stride) against one kv head, row r over keys.count(r) cached
// positions. kv: that head's rows, with head_stride already applied to k/v. scores: scratch of
// rows × keys.count(rows - 1) floats. out + r*out_stride = softmax(scale · q_r·Kᵀ) · V. A row's
// result is bitwise the same whatever `rows`, `step` and its place in the tile. Returns false
// (out untouched) for a head_dim it has no register tile for, rows outside [1, kAttendMaxRows]
// or step outside {0, 1}; the caller then uses its portable loop.
inline constexpr int kAttendMaxRows = 16;
[[nodiscard]] bool attend_rows_avx512(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys,
                                      int head_dim, float scale, float* scores, float* out, int64_t out_stride);
// out[i] = silu(g[i]) * u[i], i < n. out may alias g.
void silu_mul_avx512(const float* g, const float* u, float* out, int64_t n);

}  // namespace awqx::kernels

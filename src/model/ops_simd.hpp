// Per-ISA row kernels behind ops.cpp's attention and SwiGLU (simd/<isa>/ops_<isa>.cpp implement
// src/kernels/row_ops.hpp; the portable versions in ops.cpp are the oracle they are tested
// against, tests/model/ops_test.cpp).
// ops.cpp picks one set once per process from cpu_info() (AWQX_ISA caps it, as for kernels).
#pragma once
#include <cstdint>

#include "model/ops.hpp"

namespace awqx::ops {

// Query rows r < rows against one kv head, row r over keys.count(r) cached positions: see
// kernels::attend_rows_avx512 (rows ≤ kernels::kAttendMaxRows).
using kernels::RowKeys;
using AttendRowsFn = void (*)(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys,
                              int head_dim, float scale, float* scores, float* out, int64_t out_stride);
// out[i] = silu(g[i]) * u[i], i < n. out may alias g.
using SiluMulFn = void (*)(const float* g, const float* u, float* out, int64_t n);

struct RowKernels {
  const char* isa;
  AttendRowsFn attend_rows;  // handles any head_dim (unsupported sizes fall back to the portable one)
  SiluMulFn silu_mul;
};

void attend_rows_portable(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys,
                          int head_dim, float scale, float* scores, float* out, int64_t out_stride);
void silu_mul_portable(const float* g, const float* u, float* out, int64_t n);
// kernels::attend_rows_avx512, falling back to the portable loop for head sizes it has no tile for.
void attend_rows_avx512(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys, int head_dim,
                        float scale, float* scores, float* out, int64_t out_stride);
using kernels::silu_mul_avx512;

// The set ops.cpp uses (best for this CPU); AWQX_OPS=portable forces the portable one.
const RowKernels& row_kernels();

}  // namespace awqx::ops

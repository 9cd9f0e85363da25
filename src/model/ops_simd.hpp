// Per-ISA row kernels behind ops.cpp's attention and SwiGLU (simd/<isa>/ops_<isa>.cpp implement
// src/kernels/row_ops.hpp; the portable versions in ops.cpp are the oracle they are tested
// against, tests/model/ops_test.cpp).
// ops.cpp picks one set once per process from cpu_info() (AWQX_ISA caps it, as for kernels).
#pragma once
#include <cstdint>

#include "model/ops.hpp"

namespace awqx::ops {

// One query row of one head over n_keys cached positions of one kv head (kv: its rows, with
// head_stride already applied to k/v). scores: scratch of >= n_keys floats.
// out[head_dim] = softmax(scale · q·Kᵀ) · V.
using AttendRowFn = void (*)(const float* q, const KvRows& kv, int64_t n_keys, int head_dim, float scale,
                             float* scores, float* out);
// out[i] = silu(g[i]) * u[i], i < n. out may alias g.
using SiluMulFn = void (*)(const float* g, const float* u, float* out, int64_t n);

struct RowKernels {
  const char* isa;
  AttendRowFn attend_row;  // handles any head_dim (unsupported sizes fall back to the portable one)
  SiluMulFn silu_mul;
};

void attend_row_portable(const float* q, const KvRows& kv, int64_t n_keys, int head_dim, float scale, float* scores,
                         float* out);
void silu_mul_portable(const float* g, const float* u, float* out, int64_t n);
// kernels::attend_row_avx512, falling back to the portable loop for head sizes it has no tile for.
void attend_row_avx512(const float* q, const KvRows& kv, int64_t n_keys, int head_dim, float scale, float* scores,
                       float* out);
using kernels::silu_mul_avx512;

// The set ops.cpp uses (best for this CPU); AWQX_OPS=portable forces the portable one.
const RowKernels& row_kernels();

}  // namespace awqx::ops

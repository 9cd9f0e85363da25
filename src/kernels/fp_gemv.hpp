// FP (f32 / bf16 / f16 weight) GEMV row-range microkernels used by make_fp_linear for small m
// (decode, and batched decode up to fp_gemv_max_rows rows: include/awqx/linear.hpp).
// y[i][r] = Σ_c x[i][c]·w[r][c] (+ bias[r]) for the m rows i of x ([m][k], contiguous) and the
// weight rows r in [r0, r1); y has row stride ldy. Single-threaded (the driver splits weight rows
// across threads). Weights are widened to fp32 in registers, once per weight row for all m rows
// of x (the weights are the bytes that cost: read once per call, not once per row of x);
// accumulation is fp32. Each row of x sees exactly the operations of an m = 1 call, so a row's
// result does not depend on m or on the other rows (batch invariance, tested bitwise).
#pragma once
#include <cstdint>

namespace awqx::kernels {

enum class FpType : uint8_t { f32, bf16, f16 };
using FpGemvFn = void (*)(FpType t, const void* w, int64_t k, const float* x, int64_t m, int64_t r0, int64_t r1,
                          const float* bias, float* y, int64_t ldy);

void gemv_fp_ref(FpType t, const void* w, int64_t k, const float* x, int64_t m, int64_t r0, int64_t r1,
                 const float* bias, float* y, int64_t ldy);
void gemv_fp_avx2(FpType t, const void* w, int64_t k, const float* x, int64_t m, int64_t r0, int64_t r1,
                  const float* bias, float* y, int64_t ldy);
void gemv_fp_avx512(FpType t, const void* w, int64_t k, const float* x, int64_t m, int64_t r0, int64_t r1,
                    const float* bias, float* y, int64_t ldy);

}  // namespace awqx::kernels

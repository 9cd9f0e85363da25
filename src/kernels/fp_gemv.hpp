// FP (f32 / bf16 / f16 weight) GEMV row-range microkernels used by make_fp_linear for m == 1.
// y[r] = Σ_c x[c]·w[r][c] (+ bias[r]) for r in [r0, r1); single-threaded (the driver splits
// rows across threads). Weights are widened to fp32 in registers; accumulation is fp32.
#pragma once
#include <cstdint>

namespace awqx::kernels {

enum class FpType : uint8_t { f32, bf16, f16 };
using FpGemvFn = void (*)(FpType t, const void* w, int64_t k, const float* x, int64_t r0, int64_t r1,
                          const float* bias, float* y);

void gemv_fp_ref(FpType t, const void* w, int64_t k, const float* x, int64_t r0, int64_t r1, const float* bias,
                 float* y);
void gemv_fp_avx2(FpType t, const void* w, int64_t k, const float* x, int64_t r0, int64_t r1, const float* bias,
                  float* y);
void gemv_fp_avx512(FpType t, const void* w, int64_t k, const float* x, int64_t r0, int64_t r1, const float* bias,
                    float* y);

}  // namespace awqx::kernels

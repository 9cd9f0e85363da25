// gemv_fp_ref: scalar FP GEMV (fallback for CPUs without AVX2); see src/kernels/fp_gemv.hpp.
#include "awqx/half.hpp"
#include "kernels/fp_gemv.hpp"

namespace awqx::kernels {

namespace {
void one_row(FpType t, const void* w, int64_t k, const float* x, int64_t r0, int64_t r1, const float* bias, float* y) {
  for (int64_t r = r0; r < r1; ++r) {
    float acc[8] = {};
    for (int64_t c = 0; c < k; ++c) {
      float wv;
      if (t == FpType::f32)
        wv = static_cast<const float*>(w)[r * k + c];
      else if (t == FpType::bf16)
        wv = bf16_to_f32(static_cast<const uint16_t*>(w)[r * k + c]);
      else
        wv = f16_to_f32(static_cast<const uint16_t*>(w)[r * k + c]);
      acc[c & 7] += x[c] * wv;
    }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    y[r] = s + (bias ? bias[r] : 0.0f);
  }
}
}  // namespace

void gemv_fp_ref(FpType t, const void* w, int64_t k, const float* x, int64_t m, int64_t r0, int64_t r1,
                 const float* bias, float* y, int64_t ldy) {
  for (int64_t i = 0; i < m; ++i) one_row(t, w, k, x + i * k, r0, r1, bias, y + i * ldy);
}

}  // namespace awqx::kernels

// gemv_fp_avx2: FP GEMV for f32 / bf16 / f16 weights on AVX2+FMA+F16C (bf16 widened by a 16-bit
// shift, f16 by vcvtph2ps); one row at a time, 2 accumulators, scalar tail for k % 16.
#include <immintrin.h>

#include "awqx/half.hpp"
#include "kernels/fp_gemv.hpp"

namespace awqx::kernels {
namespace {

template <FpType T>
inline __m256 load_w(const void* w, int64_t off) {
  if constexpr (T == FpType::f32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + off);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + off));
    if constexpr (T == FpType::bf16)
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    else
      return _mm256_cvtph_ps(h);
  }
}

template <FpType T>
inline float scalar_w(const void* w, int64_t off) {
  if constexpr (T == FpType::f32) return static_cast<const float*>(w)[off];
  else if constexpr (T == FpType::bf16) return bf16_to_f32(static_cast<const uint16_t*>(w)[off]);
  else return f16_to_f32(static_cast<const uint16_t*>(w)[off]);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <FpType T>
void rows(const void* w, int64_t k, const float* x, int64_t r0, int64_t r1, const float* bias, float* y) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * k;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= k; c += 16) {
      a0 = _mm256_fmadd_ps(load_w<T>(w, o + c), _mm256_loadu_ps(x + c), a0);
      a1 = _mm256_fmadd_ps(load_w<T>(w, o + c + 8), _mm256_loadu_ps(x + c + 8), a1);
    }
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; c < k; ++c) s += x[c] * scalar_w<T>(w, o + c);
    y[r] = s + (bias ? bias[r] : 0.0f);
  }
}

}  // namespace

// Rows of x one after the other (AVX2 machines are not the serving target; same results).
void gemv_fp_avx2(FpType t, const void* w, int64_t k, const float* x, int64_t m, int64_t r0, int64_t r1,
                  const float* bias, float* y, int64_t ldy) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * k;
    float* yi = y + i * ldy;
    switch (t) {
      case FpType::f32: rows<FpType::f32>(w, k, xi, r0, r1, bias, yi); break;
      case FpType::bf16: rows<FpType::bf16>(w, k, xi, r0, r1, bias, yi); break;
      case FpType::f16: rows<FpType::f16>(w, k, xi, r0, r1, bias, yi); break;
    }
  }
}

}  // namespace awqx::kernels

// gemv_fp_avx512: FP GEMV for f32 / bf16 / f16 weights (bf16: zero-extend to 32 bits and shift
// left 16; f16: vcvtph2ps). Two rows at a time share each x load; 2 accumulators per row hide
// FMA latency; masked tail for k % 16. Memory-bound: one pass over the weight rows.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm512_undefined_*() (a
// known false positive), which -Werror would turn into a build failure.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/fp_gemv.hpp"

namespace awqx::kernels {
namespace {

template <FpType T>
inline __m512 load_w(const void* w, int64_t off, __mmask16 m) {
  if constexpr (T == FpType::f32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + off);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + off);
    if constexpr (T == FpType::bf16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    else
      return _mm512_cvtph_ps(h);
  }
}

template <FpType T>
void rows(const void* w, int64_t k, const float* x, int64_t r0, int64_t r1, const float* bias, float* y) {
  const int64_t kv = k / 16 * 16;
  const __mmask16 full = 0xFFFF, tail = static_cast<__mmask16>((1u << (k - kv)) - 1u);
  int64_t r = r0;
  for (; r + 2 <= r1; r += 2) {
    const int64_t o0 = r * k, o1 = (r + 1) * k;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 32 <= kv; c += 32) {
      const __m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + 16);
      a0 = _mm512_fmadd_ps(load_w<T>(w, o0 + c, full), x0, a0);
      b0 = _mm512_fmadd_ps(load_w<T>(w, o1 + c, full), x0, b0);
      a1 = _mm512_fmadd_ps(load_w<T>(w, o0 + c + 16, full), x1, a1);
      b1 = _mm512_fmadd_ps(load_w<T>(w, o1 + c + 16, full), x1, b1);
    }
    for (; c < kv; c += 16) {
      const __m512 x0 = _mm512_loadu_ps(x + c);
      a0 = _mm512_fmadd_ps(load_w<T>(w, o0 + c, full), x0, a0);
      b0 = _mm512_fmadd_ps(load_w<T>(w, o1 + c, full), x0, b0);
    }
    if (tail) {
      const __m512 x0 = _mm512_maskz_loadu_ps(tail, x + c);
      a1 = _mm512_fmadd_ps(load_w<T>(w, o0 + c, tail), x0, a1);
      b1 = _mm512_fmadd_ps(load_w<T>(w, o1 + c, tail), x0, b1);
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + (bias ? bias[r] : 0.0f);
    y[r + 1] = _mm512_reduce_add_ps(_mm512_add_ps(b0, b1)) + (bias ? bias[r + 1] : 0.0f);
  }
  for (; r < r1; ++r) {
    const int64_t o0 = r * k;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c < kv; c += 16) a0 = _mm512_fmadd_ps(load_w<T>(w, o0 + c, full), _mm512_loadu_ps(x + c), a0);
    if (tail) a1 = _mm512_fmadd_ps(load_w<T>(w, o0 + c, tail), _mm512_maskz_loadu_ps(tail, x + c), a1);
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + (bias ? bias[r] : 0.0f);
  }
}

}  // namespace

void gemv_fp_avx512(FpType t, const void* w, int64_t k, const float* x, int64_t r0, int64_t r1, const float* bias,
                    float* y) {
  switch (t) {
    case FpType::f32: rows<FpType::f32>(w, k, x, r0, r1, bias, y); break;
    case FpType::bf16: rows<FpType::bf16>(w, k, x, r0, r1, bias, y); break;
    case FpType::f16: rows<FpType::f16>(w, k, x, r0, r1, bias, y); break;
  }
}

}  // namespace awqx::kernels

// attend_row_avx512 / silu_mul_avx512: the per-row bodies of ops::attention and ops::silu_mul*
// (src/model/ops_simd.hpp), oracle = the portable versions in src/model/ops.cpp.
//  * q (head_dim ≤ 256 floats) stays in registers while K streams by; each key's dot is
//    reduced once. The output row stays in registers while V streams by.
//  * exp: Cody–Waite range reduction x = n·ln2 + r (|r| ≤ ln2/2), degree-7 Taylor polynomial
//    for e^r (truncation r^8/8! < 1e-8 relative, below fp32's 6e-8 ulp) and vscalefps for 2^n,
//    which underflows to 0 gracefully (no integer exponent tricks). tests/model/ops_test.cpp
//    checks it against std::exp over [-100, 10] to 4 ulp (rounding of the FMA chain).
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm512_undefined_*() (a
// known false positive), which -Werror would turn into a build failure.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "model/ops_simd.hpp"

namespace awqx::ops {
namespace {

inline __m512 exp512(__m512 x) {
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.5f)), _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
  r = _mm512_fnmadd_ps(n, ln2_lo, r);
  __m512 p = _mm512_set1_ps(1.f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// HD = head_dim / 16 known at compile time for the common sizes (registers fully unrolled).
template <int HD>
void attend(const float* q, const float* k, const float* v, int64_t ps, int64_t n_keys, float scale, float* sc,
            float* out) {
  __m512 qv[HD];
#pragma GCC unroll 16
  for (int c = 0; c < HD; ++c) qv[c] = _mm512_mul_ps(_mm512_loadu_ps(q + 16 * c), _mm512_set1_ps(scale));
  float mx = -INFINITY;
  for (int64_t p = 0; p < n_keys; ++p) {
    const float* kp = k + p * ps;
    __m512 a0 = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kp)), a1 = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int c = 1; c < HD; ++c) {
      if (c & 1)
        a1 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(kp + 16 * c), a1);
      else
        a0 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(kp + 16 * c), a0);
    }
    const float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    sc[p] = s;
    mx = s > mx ? s : mx;
  }
  const __m512 vmx = _mm512_set1_ps(mx);
  __m512 vsum = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= n_keys; p += 16) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(sc + p), vmx));
    _mm512_storeu_ps(sc + p, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  if (p < n_keys) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n_keys - p)) - 1u);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sc + p), vmx));
    _mm512_mask_storeu_ps(sc + p, m, e);
    vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(m, e));
  }
  const float inv = 1.f / _mm512_reduce_add_ps(vsum);
  __m512 o[HD];
#pragma GCC unroll 16
  for (int c = 0; c < HD; ++c) o[c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < n_keys; ++j) {
    const float* vp = v + j * ps;
    const __m512 w = _mm512_set1_ps(sc[j]);
#pragma GCC unroll 16
    for (int c = 0; c < HD; ++c) o[c] = _mm512_fmadd_ps(w, _mm512_loadu_ps(vp + 16 * c), o[c]);
  }
  const __m512 vinv = _mm512_set1_ps(inv);
#pragma GCC unroll 16
  for (int c = 0; c < HD; ++c) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(o[c], vinv));
}

}  // namespace

void attend_row_avx512(const float* q, const float* k, const float* v, int64_t pos_stride, int64_t n_keys,
                       int head_dim, float scale, float* scores, float* out) {
  switch (head_dim) {
    case 64: return attend<4>(q, k, v, pos_stride, n_keys, scale, scores, out);
    case 80: return attend<5>(q, k, v, pos_stride, n_keys, scale, scores, out);
    case 96: return attend<6>(q, k, v, pos_stride, n_keys, scale, scores, out);
    case 128: return attend<8>(q, k, v, pos_stride, n_keys, scale, scores, out);
    case 256: return attend<16>(q, k, v, pos_stride, n_keys, scale, scores, out);
    default: return attend_row_portable(q, k, v, pos_stride, n_keys, head_dim, scale, scores, out);
  }
}

void silu_mul_avx512(const float* g, const float* u, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.f);
  int64_t i = 0;
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 gv = _mm512_maskz_loadu_ps(m, g + i), uv = _mm512_maskz_loadu_ps(m, u + i);
    const __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_mul_ps(gv, sig), uv));
  }
}

}  // namespace awqx::ops

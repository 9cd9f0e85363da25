// attend_row_avx512 / silu_mul_avx512: the per-row bodies of ops::attention and ops::silu_mul*
// (interface: src/kernels/row_ops.hpp), oracle = the portable versions in src/model/ops.cpp.
//  * q (head_dim ≤ 256 floats) stays in registers while K streams by; each key's dot is
//    reduced once. The output row stays in registers while V streams by.
//  * exp: Cody–Waite range reduction x = n·ln2 + r (|r| ≤ ln2/2), degree-7 Taylor polynomial
//    for e^r (truncation r^8/8! < 1e-8 relative, below fp32's 6e-8 ulp) and vscalefps for 2^n,
//    which underflows to 0 gracefully (no integer exponent tricks). tests/model/ops_test.cpp
//    checks it against std::exp over [-100, 10] to 4 ulp (rounding of the FMA chain).
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm512_undefined_*() (a
// known false positive; -Wuninitialized once inlined into a lambda), which -Werror would turn
// into a build failure.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/row_ops.hpp"

namespace awqx::kernels {
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

// 16 cached elements widened to fp32 (bf16: the upper half of an fp32; f16: vcvtph2ps).
template <KvType T>
inline __m512 load16(const void* p) {
  if constexpr (T == KvType::f32) {
    return _mm512_loadu_ps(static_cast<const float*>(p));
  } else {
    const __m256i h = _mm256_loadu_si256(static_cast<const __m256i*>(p));
    if constexpr (T == KvType::f16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// Calls fn(p0, n, k_rows, v_rows) per block of the kv head's cached positions (see KvRows).
template <KvType T, typename Fn>
inline void for_each_block(const KvRows& kv, int64_t n_keys, Fn&& fn) {
  constexpr size_t es = T == KvType::f32 ? 4 : 2;
  const char* k = static_cast<const char*>(kv.k);
  const char* v = static_cast<const char*>(kv.v);
  if (!kv.table) return fn(int64_t{0}, n_keys, k, v);
  for (int64_t p0 = 0, b = 0; p0 < n_keys; p0 += kv.block_size, ++b) {
    const size_t off = static_cast<size_t>(kv.table[b]) * static_cast<size_t>(kv.block_stride) * es;
    fn(p0, std::min(kv.block_size, n_keys - p0), k + off, v + off);
  }
}

// HD = head_dim / 16 known at compile time for the common sizes (registers fully unrolled).
template <int HD, KvType T>
void attend(const float* q, const KvRows& kv, int64_t n_keys, float scale, float* sc, float* out) {
  constexpr size_t es = T == KvType::f32 ? 4 : 2;
  const size_t ps = static_cast<size_t>(kv.pos_stride) * es;  // bytes between positions
  __m512 qv[HD];
#pragma GCC unroll 16
  for (int c = 0; c < HD; ++c) qv[c] = _mm512_mul_ps(_mm512_loadu_ps(q + 16 * c), _mm512_set1_ps(scale));
  float mx = -INFINITY;
  for_each_block<T>(kv, n_keys, [&](int64_t p0, int64_t n, const char* k, const char*) {
    for (int64_t p = 0; p < n; ++p) {
      const char* kp = k + p * ps;
      __m512 a0 = _mm512_mul_ps(qv[0], load16<T>(kp)), a1 = _mm512_setzero_ps();
#pragma GCC unroll 16
      for (int c = 1; c < HD; ++c) {
        if (c & 1)
          a1 = _mm512_fmadd_ps(qv[c], load16<T>(kp + 16 * c * es), a1);
        else
          a0 = _mm512_fmadd_ps(qv[c], load16<T>(kp + 16 * c * es), a0);
      }
      const float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
      sc[p0 + p] = s;
      mx = s > mx ? s : mx;
    }
  });
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
  for_each_block<T>(kv, n_keys, [&](int64_t p0, int64_t n, const char*, const char* v) {
    for (int64_t j = 0; j < n; ++j) {
      const char* vp = v + j * ps;
      const __m512 w = _mm512_set1_ps(sc[p0 + j]);
#pragma GCC unroll 16
      for (int c = 0; c < HD; ++c) o[c] = _mm512_fmadd_ps(w, load16<T>(vp + 16 * c * es), o[c]);
    }
  });
  const __m512 vinv = _mm512_set1_ps(inv);
#pragma GCC unroll 16
  for (int c = 0; c < HD; ++c) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(o[c], vinv));
}

template <KvType T>
bool attend_typed(const float* q, const KvRows& kv, int64_t n_keys, int head_dim, float scale, float* sc,
                  float* out) {
  switch (head_dim) {
    case 64: return attend<4, T>(q, kv, n_keys, scale, sc, out), true;
    case 80: return attend<5, T>(q, kv, n_keys, scale, sc, out), true;
    case 96: return attend<6, T>(q, kv, n_keys, scale, sc, out), true;
    case 128: return attend<8, T>(q, kv, n_keys, scale, sc, out), true;
    case 256: return attend<16, T>(q, kv, n_keys, scale, sc, out), true;
    default: return false;
  }
}

}  // namespace

bool attend_row_avx512(const float* q, const KvRows& kv, int64_t n_keys, int head_dim, float scale, float* scores,
                       float* out) {
  bool done = false;
  switch (kv.type) {
    case KvType::f32: done = attend_typed<KvType::f32>(q, kv, n_keys, head_dim, scale, scores, out); break;
    case KvType::f16: done = attend_typed<KvType::f16>(q, kv, n_keys, head_dim, scale, scores, out); break;
    case KvType::bf16: done = attend_typed<KvType::bf16>(q, kv, n_keys, head_dim, scale, scores, out); break;
  }
  return done;
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

}  // namespace awqx::kernels

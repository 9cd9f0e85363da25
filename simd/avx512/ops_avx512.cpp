// attend_rows_avx512 / silu_mul_avx512: the per-row-tile bodies of ops::attention and ops::silu_mul*
// (interface: src/kernels/row_ops.hpp), oracle = the portable versions in src/model/ops.cpp.
//  * Attention works on tiles of up to 16 query rows of one head (prefill; decode is a tile of
//    one): K and V are read and widened once per tile instead of once per row, and 16 scores
//    are reduced together (reduce16). Each row's arithmetic is the lone row's, so tiling never
//    changes a bit (the engine's batch invariance rests on that).
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

// Address of position p of a kv head's rows (base = kv.k or kv.v).
template <KvType T>
inline const char* position(const KvRows& kv, const void* base, int64_t p) {
  constexpr size_t es = T == KvType::f32 ? 4 : 2;
  const char* b = static_cast<const char*>(base);
  if (!kv.table) return b + static_cast<size_t>(p * kv.pos_stride) * es;
  const int64_t blk = kv.table[p / kv.block_size];
  return b + static_cast<size_t>(blk * kv.block_stride + (p % kv.block_size) * kv.pos_stride) * es;
}

inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n > 0 ? n : 0)) - 1u);
}

// Lane j = the sum of the 16 lanes of v[j]. Every vector goes through the same addition tree
// (lanes i+8 onto i, then i+4, i+2, i+1) whatever its slot and its neighbours, so a score's bits
// do not depend on which keys or rows share the call. 45 shuffles/adds for 16 sums instead of
// 16 separate horizontal reductions.
inline __m512 reduce16(const __m512* v) {
  __m512 u[8], w[4];
  for (int i = 0; i < 8; ++i)  // [a.lo256 + a.hi256 | b.lo256 + b.hi256]
    u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)  // quarters: 4 lanes of each of 4 vectors
    w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0xDD));
  const __m512 z0 = _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x44), _mm512_shuffle_ps(w[0], w[1], 0xEE));
  const __m512 z1 = _mm512_add_ps(_mm512_shuffle_ps(w[2], w[3], 0x44), _mm512_shuffle_ps(w[2], w[3], 0xEE));
  // Lane 4k+m now holds vector 4m+k: a 4×4 transpose puts lane j on vector j.
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(z0, z1, 0x88), _mm512_shuffle_ps(z0, z1, 0xDD));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

// The sum of v's 16 lanes by reduce16's addition tree (i+8 onto i, then i+4, i+2, i+1), so a
// lone row's per-position scores equal a tile's bit for bit.
inline float reduce1(__m512 v) {
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 t3 = _mm256_add_ps(_mm512_castps512_ps256(v), hi);
  const __m128 t6 = _mm_add_ps(_mm256_castps256_ps128(t3), _mm256_extractf128_ps(t3, 1));
  const __m128 t8 = _mm_add_ps(t6, _mm_movehl_ps(t6, t6));
  return _mm_cvtss_f32(_mm_add_ss(t8, _mm_shuffle_ps(t8, t8, 1)));
}

// q·k for one cached position (kp: its head_dim elements of type T) as the 16-lane vector a0 + a1,
// a0 summing the even 16-element chunks and a1 the odd ones: the one order every score uses,
// whether K is read in place (a lone row) or from a tile's widened copy.
template <int HD, KvType T>
inline __m512 dot_halves(const __m512* qv, const char* kp) {
  constexpr size_t es = T == KvType::f32 ? 4 : 2;
  __m512 a0 = _mm512_mul_ps(qv[0], load16<T>(kp)), a1 = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int c = 1; c < HD; ++c) {
    if (c & 1)
      a1 = _mm512_fmadd_ps(qv[c], load16<T>(kp + 16 * c * es), a1);
    else
      a0 = _mm512_fmadd_ps(qv[c], load16<T>(kp + 16 * c * es), a0);
  }
  return _mm512_add_ps(a0, a1);
}

// Rows sharing one pass over V in the P·V loop: their HD-register output accumulators must fit
// the 32 zmm registers next to the broadcast weights and one V chunk.
constexpr int pv_rows(int hd) { return hd >= 12 ? 1 : hd >= 8 ? 3 : hd >= 5 ? 4 : 6; }

// out rows r0 .. r0+nr-1 = their softmax numerators (sc, ld floats a row) · V, times inv[r].
// NR = nr at compile time (a shorter tile recurses down), so no lane of work is wasted on
// absent rows: decode is NR = 1.
template <int HD, KvType T, int NR>
void pv_tile(int nr, const KvRows& kv, RowKeys keys, int r0, const float* sc, int64_t ld, const float* inv,
             float* out, int64_t out_stride) {
  if constexpr (NR > 1) {
    if (nr < NR) return pv_tile<HD, T, NR - 1>(nr, kv, keys, r0, sc, ld, inv, out, out_stride);
  }
  constexpr size_t es = T == KvType::f32 ? 4 : 2;
  const size_t ps = static_cast<size_t>(kv.pos_stride) * es;
  __m512 o[NR][HD];
  for (int rr = 0; rr < NR; ++rr)
    for (int c = 0; c < HD; ++c) o[rr][c] = _mm512_setzero_ps();
  for_each_block<T>(kv, keys.count(r0), [&](int64_t p0, int64_t n, const char*, const char* v) {
    for (int64_t j = 0; j < n; ++j) {
      const char* vp = v + j * ps;
      __m512 w[NR];
      for (int rr = 0; rr < NR; ++rr) w[rr] = _mm512_set1_ps(sc[(r0 + rr) * ld + p0 + j]);
#pragma GCC unroll 16
      for (int c = 0; c < HD; ++c) {
        const __m512 vc = load16<T>(vp + 16 * c * es);
        for (int rr = 0; rr < NR; ++rr) o[rr][c] = _mm512_fmadd_ps(w[rr], vc, o[rr][c]);
      }
    }
  });
  for (int rr = 0; rr < NR; ++rr) {
    const int r = r0 + rr;
    __m512 acc[HD];
    for (int c = 0; c < HD; ++c) acc[c] = o[rr][c];
    for (int64_t p = keys.count(r0); p < keys.count(r); ++p) {
      const char* vp = position<T>(kv, kv.v, p);
      const __m512 wp = _mm512_set1_ps(sc[r * ld + p]);
      for (int c = 0; c < HD; ++c) acc[c] = _mm512_fmadd_ps(wp, load16<T>(vp + 16 * c * es), acc[c]);
    }
    const __m512 vinv = _mm512_set1_ps(inv[r]);
    for (int c = 0; c < HD; ++c) _mm512_storeu_ps(out + r * out_stride + 16 * c, _mm512_mul_ps(acc[c], vinv));
  }
}

// Rows r < rows against one kv head; row r (q + r*q_stride) attends keys.count(r) positions.
// HD = head_dim / 16 at compile time (registers fully unrolled). Per row the arithmetic is the
// one a lone row gets (scores through reduce16, max, exp and sum in position order, P·V in
// position order), so tiles only share loads: K is widened once per 16 positions for all rows,
// V once per pv_rows rows.
template <int HD, KvType T>
void attend_rows(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys, float scale,
                 float* sc, float* out, int64_t out_stride) {
  constexpr size_t es = T == KvType::f32 ? 4 : 2;
  constexpr int D = HD * 16;
  const size_t ps = static_cast<size_t>(kv.pos_stride) * es;  // bytes between positions
  const int64_t n_max = keys.count(rows - 1), ld = n_max;
  alignas(64) float qs[16][D];
  alignas(64) float kbuf[16][D];
  alignas(64) float mx[16];
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < HD; ++c)
      _mm512_store_ps(qs[r] + 16 * c, _mm512_mul_ps(_mm512_loadu_ps(q + r * q_stride + 16 * c), _mm512_set1_ps(scale)));
    mx[r] = -INFINITY;
  }
  if (rows == 1) {  // decode: q in registers, each position's score reduced on its own (reduce1)
    __m512 qv[HD];
    for (int c = 0; c < HD; ++c) qv[c] = _mm512_load_ps(qs[0] + 16 * c);
    for_each_block<T>(kv, n_max, [&](int64_t p0, int64_t n, const char* k, const char*) {
      for (int64_t p = 0; p < n; ++p) {
        const float sv = reduce1(dot_halves<HD, T>(qv, k + p * ps));
        sc[p0 + p] = sv;
        mx[0] = sv > mx[0] ? sv : mx[0];
      }
    });
  } else {  // 16 positions at a time: K widened once into kbuf for all rows, 16 scores per reduce16
    for_each_block<T>(kv, n_max, [&](int64_t p0, int64_t n, const char* k, const char*) {
      for (int64_t g0 = 0; g0 < n; g0 += 16) {
        const int g = static_cast<int>(std::min<int64_t>(16, n - g0));
        for (int j = 0; j < g; ++j)
          for (int c = 0; c < HD; ++c) _mm512_store_ps(kbuf[j] + 16 * c, load16<T>(k + (g0 + j) * ps + 16 * c * es));
        for (int r = 0; r < rows; ++r) {
          __m512 qv[HD], t[16];
          for (int c = 0; c < HD; ++c) qv[c] = _mm512_load_ps(qs[r] + 16 * c);
          for (int j = g; j < 16; ++j) t[j] = _mm512_setzero_ps();
#pragma GCC unroll 16
          for (int j = 0; j < g; ++j) t[j] = dot_halves<HD, KvType::f32>(qv, reinterpret_cast<const char*>(kbuf[j]));
          const __m512 s = reduce16(t);
          const int64_t p = p0 + g0;
          _mm512_mask_storeu_ps(sc + r * ld + p, first_lanes(g), s);
          const __mmask16 mine = first_lanes(std::min<int64_t>(g, keys.count(r) - p));  // positions row r sees
          mx[r] = std::max(mx[r], _mm512_mask_reduce_max_ps(mine, s));
        }
      }
    });
  }
  // Softmax numerators in place; inv[r] = 1 / their sum.
  alignas(64) float inv[16];
  for (int r = 0; r < rows; ++r) {
    float* sr = sc + r * ld;
    const int64_t n_keys = keys.count(r);
    const __m512 vmx = _mm512_set1_ps(mx[r]);
    __m512 vsum = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_keys; p += 16) {
      const __mmask16 m = first_lanes(n_keys - p);
      const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sr + p), vmx));
      _mm512_mask_storeu_ps(sr + p, m, e);
      vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(m, e));
    }
    inv[r] = 1.f / _mm512_reduce_add_ps(vsum);
  }
  // P·V: pv_rows rows share each widened V chunk over the positions all of them see; each row
  // then finishes its own remaining positions, still in position order.
  constexpr int RB = pv_rows(HD);
  for (int r0 = 0; r0 < rows; r0 += RB)
    pv_tile<HD, T, RB>(std::min(RB, rows - r0), kv, keys, r0, sc, ld, inv, out, out_stride);
}

template <KvType T>
bool attend_typed(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys, int head_dim,
                  float scale, float* sc, float* out, int64_t out_stride) {
  switch (head_dim) {
    case 64: return attend_rows<4, T>(q, q_stride, rows, kv, keys, scale, sc, out, out_stride), true;
    case 80: return attend_rows<5, T>(q, q_stride, rows, kv, keys, scale, sc, out, out_stride), true;
    case 96: return attend_rows<6, T>(q, q_stride, rows, kv, keys, scale, sc, out, out_stride), true;
    case 128: return attend_rows<8, T>(q, q_stride, rows, kv, keys, scale, sc, out, out_stride), true;
    case 256: return attend_rows<16, T>(q, q_stride, rows, kv, keys, scale, sc, out, out_stride), true;
    default: return false;
  }
}

}  // namespace

bool attend_rows_avx512(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys, int head_dim,
                        float scale, float* scores, float* out, int64_t out_stride) {
  if (rows < 1 || rows > kAttendMaxRows || keys.n0 < 1 || (keys.step != 0 && keys.step != 1)) return false;
  switch (kv.type) {
    case KvType::f32: return attend_typed<KvType::f32>(q, q_stride, rows, kv, keys, head_dim, scale, scores, out, out_stride);
    case KvType::f16: return attend_typed<KvType::f16>(q, q_stride, rows, kv, keys, head_dim, scale, scores, out, out_stride);
    case KvType::bf16: return attend_typed<KvType::bf16>(q, q_stride, rows, kv, keys, head_dim, scale, scores, out, out_stride);
  }
  return false;
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

// gemm_i8_q4g_32x32_amx: y = x·dequant(W)ᵀ + bias on AMX int8 tiles (tdpbssd), weights stay
// 4-bit in memory (format q4r16x8, include/awqx/kernels.hpp).
//  * X is quantized per row and per weight group (dynamic, per token): xq = round(x/sx),
//    sx = amax_g/127, so |x − sx·xq| ≤ sx/2 — the same bound as the VNNI kernel's (whose blocks
//    are ⊆ the group), derived in tests/kernels/gemv_q4g_test.cpp.
//  * Weights: one 16-column tile of q4r16x8 is unpacked to the B-tile layout (row = 4
//    consecutive k, 16 columns × 4 bytes) with the zero point subtracted, q − z ∈ [−15, 15] fits
//    s8, so the int32 tile sums are exact and need no zero-point correction. The unpack is
//    amortized over the rows of an M chunk (kept in L2 beside the unpacked tiles).
//  * Per group the int32 C tiles are stored and scaled into an fp32 accumulator:
//    acc[i][j] += sx[i][g]·s[j][g]·C[i][j]. That epilogue runs on the vector ports while the
//    tile unit computes the next group (the loop issues the tile work first), and it reads the
//    sums of two groups back (double-buffered): loading a tile store right after it was issued
//    stalls. Measured, 1 thread, m = 512, 4096×4096: 20.8 → 15.0 ms with the second buffer;
//    64-byte aligned A rows: 14.3 → 7.6 ms without the epilogue (split cache lines).
//  * Blocking 32×32: tiles 0..3 = C (2×2), 4..5 = A (16 rows × KS int8), 6..7 = B (KS/4 rows ×
//    64 bytes); KS = 64 when the group is a multiple of 64, else 32 (g = 32).
// Threads split column-tile pairs (disjoint outputs, fixed order: bit-identical for any
// thread count). Oracle simd/ref/gemv_q4g_ref.cpp; tests tests/kernels/gemv_q4g_test.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 avx512fintrin.h false positive
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "amx/amx_q4_common.hpp"
#include "awqx/parallel.hpp"
#include "kernels/q4r_common.hpp"

namespace awqx::kernels {
namespace {

// Activations of one call: int8 rows padded to a multiple of 16 (zero rows), scale per row/group.
// Row stride lda = k + 64: with lda = k = 4096 the 16 rows of an A tile fall in one L1 set.
// 64-byte aligned: a tile row is one cache line (a misaligned row costs two).
struct QuantA {
  int64_t lda = 0;
  AlignedBytes buf;        // [m_pad][lda] int8
  size_t cap = 0;
  int8_t* q = nullptr;
  std::vector<float> sx;   // [m_pad][groups]
};

void quantize_rows(const float* x, int64_t k, int group, int64_t r0, int64_t r1, QuantA& qa) {
  const int64_t groups = k / group;
  for (int64_t i = r0; i < r1; ++i)
    for (int64_t g = 0; g < groups; ++g) {
      const float* xp = x + i * k + g * group;
      __m512 amax = _mm512_setzero_ps();
      for (int c = 0; c < group; c += 16) amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(xp + c)));
      const float am = _mm512_reduce_max_ps(amax);
      const __m512 inv = _mm512_set1_ps(am > 0.f ? 127.f / am : 0.f);
      int8_t* qp = qa.q + i * qa.lda + g * group;
      for (int c = 0; c < group; c += 16) {
        const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xp + c), inv));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qp + c), _mm512_cvtsepi32_epi8(v));
      }
      qa.sx[static_cast<size_t>(i * groups + g)] = am / 127.f;
    }
}

// Column tile t of q4r16x8 → B-tile rows (k/4 rows × 64 bytes, row r = k 4r..4r+3 of the 16
// columns), zero point subtracted. Block b of q4r16x8 holds k 8b..8b+3 in its low nibbles and
// 8b+4..8b+7 in its high nibbles: rows 2b and 2b+1.
void unpack_tile(const PackedQ4& p, int64_t t, int8_t* dst) {
  const PackedHeader& h = p.hdr;
  const int64_t groups = h.groups(), kb = h.k / 8, bpg = h.group_size / 8;
  const uint8_t* qt = p.q() + t * kb * 64;
  const uint8_t* zt = p.zeros() + t * groups * 16;
  const __m512i m4 = _mm512_set1_epi8(0x0F), rep = _mm512_set1_epi32(0x01010101);
  for (int64_t g = 0; g < groups; ++g) {
    // byte 4c + j of a B row belongs to column c: its zero point four times.
    const __m512i z = _mm512_mullo_epi32(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(zt + g * 16))), rep);
    for (int64_t b = g * bpg; b < (g + 1) * bpg; ++b) {
      const __m512i v = _mm512_load_si512(qt + b * 64);
      _mm512_store_si512(dst + b * 128, _mm512_sub_epi8(_mm512_and_si512(v, m4), z));
      _mm512_store_si512(dst + b * 128 + 64, _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), z));
    }
  }
}

TileConfig int8_config(int ks) {
  TileConfig c;
  for (int t = 0; t < 4; ++t) c.set(t, 16, 64);      // C: 16 × 16 int32
  for (int t = 4; t < 6; ++t) c.set(t, 16, ks);      // A: 16 rows × ks int8
  for (int t = 6; t < 8; ++t) c.set(t, ks / 4, 64);  // B: ks/4 rows × (16 columns × 4 k)
  return c;
}

struct Ctx {
  const PackedQ4* p;
  const QuantA* qa;
  int ks;
};

// acc[16a + r][16b + c] += sx[row][g]·s[col][g]·C_ab[r][c] for the MA×NB C tiles in cbuf.
template <int MA, int NB>
void epilogue(const Ctx& cx, int64_t i0, int64_t t, int64_t g, const int32_t (*cbuf)[16][16], float (*acc)[32]) {
  const int64_t groups = cx.p->hdr.groups();
#pragma GCC unroll 2
  for (int b = 0; b < NB; ++b) {
    const __m512 s = _mm512_load_ps(cx.p->scales() + ((t + b) * groups + g) * 16);
#pragma GCC unroll 2
    for (int a = 0; a < MA; ++a) {
      const float* sx = cx.qa->sx.data() + (i0 + 16 * a) * groups + g;
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        const __m512 c = _mm512_cvtepi32_ps(_mm512_load_si512(cbuf[2 * a + b][r]));
        float* ap = acc[16 * a + r] + 16 * b;
        _mm512_store_ps(ap, _mm512_fmadd_ps(c, _mm512_mul_ps(s, _mm512_set1_ps(sx[r * groups])), _mm512_load_ps(ap)));
      }
    }
  }
}

// Rows [i0, i0 + 16·MA) × columns of tiles t (and t + 1 when NB = 2), all of k.
template <int MA, int NB>
void block(const Ctx& cx, int64_t i0, int64_t t, const int8_t* b0, const int8_t* b1, int64_t m, float* y) {
  const PackedHeader& h = cx.p->hdr;
  const int64_t n = h.n, groups = h.groups();
  const int steps = h.group_size / cx.ks;
  alignas(64) float acc[32][32];
  alignas(64) int32_t cbuf[2][4][16][16];  // group g's sums in cbuf[g & 1]
  for (int r = 0; r < 16 * MA; ++r) std::memset(acc[r], 0, sizeof(float) * 16 * NB);
  const int64_t lda = cx.qa->lda;
  const int8_t* a0 = cx.qa->q + i0 * lda;
  const int8_t* a1 = a0 + 16 * lda;
  for (int64_t g = 0; g <= groups + 1; ++g) {
    if (g < groups) {  // issue this group's tile work first ...
      _tile_zero(0);
      if constexpr (NB > 1) _tile_zero(1);
      if constexpr (MA > 1) _tile_zero(2);
      if constexpr (MA > 1 && NB > 1) _tile_zero(3);
      for (int s = 0; s < steps; ++s) {
        const int64_t kk = g * h.group_size + s * cx.ks;
        _tile_loadd(4, a0 + kk, lda);
        _tile_loadd(6, b0 + kk * 16, 64);
        if constexpr (NB > 1) _tile_loadd(7, b1 + kk * 16, 64);
        _tile_dpbssd(0, 4, 6);
        if constexpr (NB > 1) _tile_dpbssd(1, 4, 7);
        if constexpr (MA > 1) {
          _tile_loadd(5, a1 + kk, lda);
          _tile_dpbssd(2, 5, 6);
          if constexpr (NB > 1) _tile_dpbssd(3, 5, 7);
        }
      }
    }
    // ... then scale the previous group's sums on the vector ports while the tiles compute.
    // Two groups back: its tile stores were issued a whole group ago and have long landed in L1
    // (reading fresh tile stores back stalls the loads, and with them the overlap).
    if (g > 1) epilogue<MA, NB>(cx, i0, t, g - 2, cbuf[g & 1], acc);
    if (g < groups) {
      _tile_stored(0, cbuf[g & 1][0], 64);
      if constexpr (NB > 1) _tile_stored(1, cbuf[g & 1][1], 64);
      if constexpr (MA > 1) _tile_stored(2, cbuf[g & 1][2], 64);
      if constexpr (MA > 1 && NB > 1) _tile_stored(3, cbuf[g & 1][3], 64);
    }
  }
  const int64_t rows = std::min<int64_t>(16 * MA, m - i0);
  for (int b = 0; b < NB; ++b) {
    const int64_t c0 = (t + b) * 16, cols = std::min<int64_t>(16, n - c0);
    const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1u);
    const __m512 bias = cx.p->bias.empty() ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, cx.p->bias.data() + c0);
    for (int64_t r = 0; r < rows; ++r)
      _mm512_mask_storeu_ps(y + (i0 + r) * n + c0, mask, _mm512_add_ps(_mm512_load_ps(acc[r] + 16 * b), bias));
  }
}

template <int NB>
void rows_for_tiles(const Ctx& cx, int64_t c0, int64_t c1, int64_t t, const int8_t* b0, const int8_t* b1, int64_t m,
                    float* y) {
  int64_t i = c0;
  for (; i + 32 <= c1; i += 32) block<2, NB>(cx, i, t, b0, b1, m, y);
  if (i < c1) block<1, NB>(cx, i, t, b0, b1, m, y);  // c1 − i = 16: rows are padded to 16
}

void run_amx_int8(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const PackedHeader& h = p.hdr;
  const int64_t k = h.k, tiles = h.n_pad / 16, pairs = (tiles + 1) / 2, m_pad = (m + 15) / 16 * 16;
  thread_local QuantA tls;  // the calling thread's; workers use it through this reference
  QuantA& qa = tls;
  qa.lda = k + 64;
  if (static_cast<size_t>(m_pad * qa.lda) > qa.cap) {
    qa.cap = static_cast<size_t>(m_pad * qa.lda);
    qa.buf = aligned_alloc_untouched(qa.cap);
    qa.q = reinterpret_cast<int8_t*>(qa.buf.get());
  }
  qa.sx.resize(static_cast<size_t>(m_pad * h.groups()));
  std::memset(qa.q + m * qa.lda, 0, static_cast<size_t>((m_pad - m) * qa.lda));
  std::fill(qa.sx.begin() + m * h.groups(), qa.sx.end(), 0.f);
  parallel_for(0, m, std::max<int64_t>(1, (m + num_threads() - 1) / num_threads()),
               [&](int64_t r0, int64_t r1) { quantize_rows(x, k, h.group_size, r0, r1, qa); });
  const Ctx cx{&p, &qa, amx_k_step(h.group_size)};
  const TileConfig cfg = int8_config(cx.ks);
  const int64_t mc = amx_m_chunk(k), grain = tile_grain(pairs, num_threads());
  for (int64_t c0 = 0; c0 < m_pad; c0 += mc) {
    const int64_t c1 = std::min(m_pad, c0 + mc);
    parallel_for(0, pairs, grain, [&](int64_t p0, int64_t p1) {
      TileScope tiles_on(cfg);
      int8_t* b0 = amx_scratch(static_cast<size_t>(2 * k * 16));
      int8_t* b1 = b0 + k * 16;
      for (int64_t pr = p0; pr < p1; ++pr) {
        const int64_t t = 2 * pr;
        unpack_tile(p, t, b0);
        if (t + 1 < tiles) {
          unpack_tile(p, t + 1, b1);
          rows_for_tiles<2>(cx, c0, c1, t, b0, b1, m, y);
        } else {
          rows_for_tiles<1>(cx, c0, c1, t, b0, b0, m, y);
        }
      }
    });
  }
}

constexpr KernelEntry kAmxInt8Kernels[] = {
    {"gemm_i8_q4g_32x32_amx", Op::gemm, PackedFormat::q4r16x8, Isa::amx, "amx", 40, supported_amx, pack_q4r16x8,
     run_amx_int8, kAmxInt8MinM},
};

}  // namespace

void register_amx_int8_kernels(Registry& r) { r.add(kAmxInt8Kernels, std::size(kAmxInt8Kernels)); }

}  // namespace awqx::kernels

// AMX int4 GEMMs, y = x·dequant(W)ᵀ + bias, weights 4-bit in memory (format q4r16x8,
// include/awqx/kernels.hpp), one driver for two tile paths:
//  * gemm_i8_q4g_32x32_amx (tdpbssd): X quantized per row and per weight group (dynamic, per
//    token), xq = round(x/sx), sx = amax_g/127, so |x − sx·xq| ≤ sx/2 — the VNNI kernel's bound
//    (its blocks are ⊆ the group), derived in tests/kernels/gemv_q4g_test.cpp.
//  * gemm_bf16_q4g_32x32_amx (tdpbf16ps): X rounded to bf16 (relative 2^-9), no activation
//    quantization; fp32 accumulation.
// Weights: a 16-column tile of q4r16x8 is unpacked to the B-tile layout with the zero point
// subtracted; q − z ∈ [−15, 15] is exact in s8 and in bf16, so the per-group tile sums are exact
// (int8) or fp32-accumulated (bf16) and need no zero-point correction. The unpack is amortized
// over the rows of an M chunk (kept in L2 beside the unpacked tiles).
// Per group the C tiles are stored and scaled into an fp32 accumulator, acc += sx·s·C (int8) or
// s·C (bf16). That epilogue runs on the vector ports while the tile unit computes the next group
// (tile work is issued first) and reads the sums of two groups back (double-buffered): loading a
// tile store right after issuing it stalls. Measured, 1 thread, m = 512, 4096×4096, int8: 20.8 →
// 15.0 ms with the second buffer; 64-byte aligned A rows: 14.3 → 7.6 ms without the epilogue.
// Blocking 32×32: tiles 0..3 = C (2×2), 4..5 = A (16 rows), 6..7 = B (16 columns).
// Threads split column-tile pairs (disjoint outputs, fixed order: bit-identical for any thread
// count). Oracle simd/ref/gemv_q4g_ref.cpp; tests tests/kernels/gemv_q4g_test.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 avx512fintrin.h false positive
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "amx/amx_q4_common.hpp"
#include "awqx/parallel.hpp"
#include "kernels/q4r_common.hpp"

namespace awqx::kernels {
namespace {

// Activations of one call: rows padded to a multiple of 16 (zero rows), 64-byte aligned rows
// (a tile row is then one cache line; misaligned rows cost two) with stride lda = row bytes + 64
// (with a 4096-byte stride the 16 rows of an A tile fall in one L1 set).
struct ActRows {
  int64_t lda = 0;  // bytes
  GrowingBuffer buf;
  uint8_t* a = nullptr;
  float* sx = nullptr;  // int8 path: [m_pad][groups] scales (after the rows in buf)

  void reserve(int64_t m_pad, int64_t row_bytes, int64_t groups) {
    lda = row_bytes + 64;
    const size_t need = static_cast<size_t>(m_pad * lda) + static_cast<size_t>(m_pad * groups) * sizeof(float);
    a = buf.get(need);
    sx = reinterpret_cast<float*>(a + m_pad * lda);
  }
};

// The tile intrinsics stringify their register numbers, so each (C, A, B) triple the 2×2 block
// uses is spelled out once per path.
#define AWQX_AMX_TILE_PRODUCTS(INSTR)    \
  static void dp046() { INSTR(0, 4, 6); } \
  static void dp147() { INSTR(1, 4, 7); } \
  static void dp256() { INSTR(2, 5, 6); } \
  static void dp357() { INSTR(3, 5, 7); }

// ---- int8 path --------------------------------------------------------------------------------
struct Int8Path {
  static constexpr int kAElem = 1;    // bytes per activation element
  static constexpr int kBPerK = 16;   // unpacked B bytes per k per 16-column tile (k/4 rows × 64)
  static constexpr bool kRowScale = true;
  static int k_step(int group) { return amx_k_step(group); }

  static void prepare_rows(const float* x, int64_t k, int group, int64_t r0, int64_t r1, ActRows& ar) {
    const int64_t groups = k / group;
    for (int64_t i = r0; i < r1; ++i)
      for (int64_t g = 0; g < groups; ++g) {
        const float* xp = x + i * k + g * group;
        __m512 amax = _mm512_setzero_ps();
        for (int c = 0; c < group; c += 16) amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(xp + c)));
        const float am = _mm512_reduce_max_ps(amax);
        const __m512 inv = _mm512_set1_ps(am > 0.f ? 127.f / am : 0.f);
        int8_t* qp = reinterpret_cast<int8_t*>(ar.a + i * ar.lda) + g * group;
        for (int c = 0; c < group; c += 16) {
          const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xp + c), inv));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(qp + c), _mm512_cvtsepi32_epi8(v));
        }
        ar.sx[i * groups + g] = am / 127.f;
      }
  }

  // Block b of q4r16x8 holds k 8b..8b+3 in its low nibbles and 8b+4..8b+7 in its high nibbles:
  // exactly B rows 2b and 2b+1 (row = 4 consecutive k, byte 4c + j = column c).
  static void unpack_tile(const PackedQ4& p, int64_t t, uint8_t* dst) {
    const PackedHeader& h = p.hdr;
    const int64_t groups = h.groups(), kb = h.k / 8, bpg = h.group_size / 8;
    const uint8_t* qt = p.q() + t * kb * 64;
    const uint8_t* zt = p.zeros() + t * groups * 16;
    const __m512i m4 = _mm512_set1_epi8(0x0F), rep = _mm512_set1_epi32(0x01010101);
    for (int64_t g = 0; g < groups; ++g) {
      const __m512i z = _mm512_mullo_epi32(
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(zt + g * 16))), rep);
      for (int64_t b = g * bpg; b < (g + 1) * bpg; ++b) {
        const __m512i v = _mm512_load_si512(qt + b * 64);
        _mm512_store_si512(dst + b * 128, _mm512_sub_epi8(_mm512_and_si512(v, m4), z));
        _mm512_store_si512(dst + b * 128 + 64, _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), z));
      }
    }
  }

  AWQX_AMX_TILE_PRODUCTS(_tile_dpbssd)
  static __m512 sums(const void* row) { return _mm512_cvtepi32_ps(_mm512_load_si512(row)); }
};

// ---- bf16 path --------------------------------------------------------------------------------
struct Bf16Path {
  static constexpr int kAElem = 2;
  static constexpr int kBPerK = 32;  // k/2 rows × 64 bytes
  static constexpr bool kRowScale = false;
  static int k_step(int) { return 32; }  // 16 rows × 32 bf16 per A tile

  static void prepare_rows(const float* x, int64_t k, int, int64_t r0, int64_t r1, ActRows& ar) {
    for (int64_t i = r0; i < r1; ++i) {
      const float* xp = x + i * k;
      uint8_t* row = ar.a + i * ar.lda;
      for (int64_t c = 0; c < k; c += 32) {  // k % 32 == 0 (group ≥ 32)
        const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xp + c + 16), _mm512_loadu_ps(xp + c));
        _mm512_store_si512(row + 2 * c, reinterpret_cast<const __m512i&>(v));
      }
    }
  }

  // vpermb selectors (word i/2 = lane i/4, element (i/2) % 2 of bytes 0,1 resp. 2,3; odd bytes
  // zeroed by the mask) and the table bf16(i − 16), i = 0..31 (exact: |i − 16| ≤ 16 needs 5
  // mantissa bits). Built once.
  struct UnpackTables {
    alignas(64) uint8_t sel[2][64];
    alignas(64) uint16_t lut[32];
    UnpackTables() {
      for (int i = 0; i < 64; ++i) {
        sel[0][i] = static_cast<uint8_t>(4 * (i / 4) + (i / 2) % 2);
        sel[1][i] = static_cast<uint8_t>(sel[0][i] + 2);
      }
      for (int i = 0; i < 32; ++i) {
        const float f = static_cast<float>(i - 16);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        lut[i] = static_cast<uint16_t>(bits >> 16);
      }
    }
  };

  // B row r of a k step = the pair (2r, 2r + 1), 16 columns × 2 bf16. From block b's low nibbles
  // (k 8b..8b+3 in bytes 0..3 of lane c) come pairs (8b, 8b+1) and (8b+2, 8b+3); from its high
  // nibbles (8b+4, 8b+5), (8b+6, 8b+7). vpermb spreads two bytes of each lane to the low bytes of
  // two words, vpermw looks q − z + 16 (1..31) up in a table of bf16(i − 16): exact small ints.
  static void unpack_tile(const PackedQ4& p, int64_t t, uint8_t* dst) {
    const PackedHeader& h = p.hdr;
    const int64_t groups = h.groups(), kb = h.k / 8, bpg = h.group_size / 8;
    const uint8_t* qt = p.q() + t * kb * 64;
    const uint8_t* zt = p.zeros() + t * groups * 16;
    static const UnpackTables tables;
    const __m512i s01 = _mm512_load_si512(tables.sel[0]), s23 = _mm512_load_si512(tables.sel[1]);
    const __m512i tab = _mm512_load_si512(tables.lut);
    const __mmask64 even = 0x5555555555555555ull;
    const __m512i m4 = _mm512_set1_epi8(0x0F), w16 = _mm512_set1_epi16(16), rep = _mm512_set1_epi32(0x00010001);
    for (int64_t g = 0; g < groups; ++g) {
      const __m512i z = _mm512_mullo_epi32(
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(zt + g * 16))), rep);
      const __m512i off = _mm512_sub_epi16(w16, z);  // 16 − z per word
      for (int64_t b = g * bpg; b < (g + 1) * bpg; ++b) {
        const __m512i v = _mm512_load_si512(qt + b * 64);
        const __m512i half[2] = {_mm512_and_si512(v, m4), _mm512_and_si512(_mm512_srli_epi16(v, 4), m4)};
        uint8_t* out = dst + b * 256;
        for (int hh = 0; hh < 2; ++hh)
          for (int pr = 0; pr < 2; ++pr) {
            const __m512i q = _mm512_maskz_permutexvar_epi8(even, pr ? s23 : s01, half[hh]);
            _mm512_store_si512(out + (2 * hh + pr) * 64, _mm512_permutexvar_epi16(_mm512_add_epi16(q, off), tab));
          }
      }
    }
  }

  AWQX_AMX_TILE_PRODUCTS(_tile_dpbf16ps)
  static __m512 sums(const void* row) { return _mm512_load_ps(static_cast<const float*>(row)); }
};

// ---- shared driver ----------------------------------------------------------------------------
template <class Path>
TileConfig tile_config(int ks) {
  TileConfig c;
  for (int t = 0; t < 4; ++t) c.set(t, 16, 64);                          // C: 16 × 16 of 4 bytes
  for (int t = 4; t < 6; ++t) c.set(t, 16, ks * Path::kAElem);           // A: 16 rows × ks elements
  for (int t = 6; t < 8; ++t) c.set(t, ks * Path::kBPerK / 64, 64);      // B: rows of 64 bytes
  return c;
}

struct Ctx {
  const PackedQ4* p;
  const ActRows* ar;
  int ks;
};

// acc[16a + r][16b + c] += (sx[row][g]·) s[col][g]·C_ab[r][c] for the MA×NB C tiles in cbuf.
template <class Path, int MA, int NB>
void epilogue(const Ctx& cx, int64_t i0, int64_t t, int64_t g, const int32_t (*cbuf)[16][16], float (*acc)[32]) {
  const int64_t groups = cx.p->hdr.groups();
#pragma GCC unroll 2
  for (int b = 0; b < NB; ++b) {
    const __m512 s = _mm512_load_ps(cx.p->scales() + ((t + b) * groups + g) * 16);
#pragma GCC unroll 2
    for (int a = 0; a < MA; ++a) {
      const float* sx = cx.ar->sx + (i0 + 16 * a) * groups + g;
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        const __m512 scale = Path::kRowScale ? _mm512_mul_ps(s, _mm512_set1_ps(sx[r * groups])) : s;
        float* ap = acc[16 * a + r] + 16 * b;
        _mm512_store_ps(ap, _mm512_fmadd_ps(Path::sums(cbuf[2 * a + b][r]), scale, _mm512_load_ps(ap)));
      }
    }
  }
}

// Rows [i0, i0 + 16·MA) × columns of tiles t (and t + 1 when NB = 2), all of k.
template <class Path, int MA, int NB>
void block(const Ctx& cx, int64_t i0, int64_t t, const uint8_t* b0, const uint8_t* b1, int64_t m, float* y) {
  const PackedHeader& h = cx.p->hdr;
  const int64_t n = h.n, groups = h.groups(), lda = cx.ar->lda;
  const int steps = h.group_size / cx.ks;
  alignas(64) float acc[32][32];
  alignas(64) int32_t cbuf[2][4][16][16];  // group g's sums in cbuf[g & 1] (int32 or fp32 bits)
  for (int r = 0; r < 16 * MA; ++r) std::memset(acc[r], 0, sizeof(float) * 16 * NB);
  const uint8_t* a0 = cx.ar->a + i0 * lda;
  const uint8_t* a1 = a0 + 16 * lda;
  for (int64_t g = 0; g <= groups + 1; ++g) {
    if (g < groups) {  // issue this group's tile work first ...
      _tile_zero(0);
      if constexpr (NB > 1) _tile_zero(1);
      if constexpr (MA > 1) _tile_zero(2);
      if constexpr (MA > 1 && NB > 1) _tile_zero(3);
      for (int s = 0; s < steps; ++s) {
        const int64_t kk = g * h.group_size + s * cx.ks;
        _tile_loadd(4, a0 + kk * Path::kAElem, lda);
        _tile_loadd(6, b0 + kk * Path::kBPerK, 64);
        if constexpr (NB > 1) _tile_loadd(7, b1 + kk * Path::kBPerK, 64);
        Path::dp046();
        if constexpr (NB > 1) Path::dp147();
        if constexpr (MA > 1) {
          _tile_loadd(5, a1 + kk * Path::kAElem, lda);
          Path::dp256();
          if constexpr (NB > 1) Path::dp357();
        }
      }
    }
    // ... then scale the sums of two groups back on the vector ports.
    if (g > 1) epilogue<Path, MA, NB>(cx, i0, t, g - 2, cbuf[g & 1], acc);
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

template <class Path, int NB>
void rows_for_tiles(const Ctx& cx, int64_t c0, int64_t c1, int64_t t, const uint8_t* b0, const uint8_t* b1,
                    int64_t m, float* y) {
  int64_t i = c0;
  for (; i + 32 <= c1; i += 32) block<Path, 2, NB>(cx, i, t, b0, b1, m, y);
  if (i < c1) block<Path, 1, NB>(cx, i, t, b0, b1, m, y);  // c1 − i = 16: rows are padded to 16
}

template <class Path>
void run_amx(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const PackedHeader& h = p.hdr;
  const int64_t k = h.k, groups = h.groups(), tiles = h.n_pad / 16, pairs = (tiles + 1) / 2;
  const int64_t m_pad = (m + 15) / 16 * 16, row_bytes = k * Path::kAElem;
  thread_local ActRows tls;  // the calling thread's; workers use it through this reference
  ActRows& ar = tls;
  ar.reserve(m_pad, row_bytes, groups);
  std::memset(ar.a + m * ar.lda, 0, static_cast<size_t>((m_pad - m) * ar.lda));
  std::fill(ar.sx + m * groups, ar.sx + m_pad * groups, 0.f);
  parallel_for(0, m, std::max<int64_t>(1, (m + num_threads() - 1) / num_threads()),
               [&](int64_t r0, int64_t r1) { Path::prepare_rows(x, k, h.group_size, r0, r1, ar); });
  const Ctx cx{&p, &ar, Path::k_step(h.group_size)};
  const TileConfig cfg = tile_config<Path>(cx.ks);
  const int64_t mc = amx_m_chunk(row_bytes), grain = tile_grain(pairs, num_threads());
  const size_t tile_bytes = static_cast<size_t>(k * Path::kBPerK);
  for (int64_t c0 = 0; c0 < m_pad; c0 += mc) {
    const int64_t c1 = std::min(m_pad, c0 + mc);
    parallel_for(0, pairs, grain, [&](int64_t p0, int64_t p1) {
      TileScope tiles_on(cfg);
      uint8_t* b0 = amx_scratch(2 * tile_bytes);
      uint8_t* b1 = b0 + tile_bytes;
      for (int64_t pr = p0; pr < p1; ++pr) {
        const int64_t t = 2 * pr;
        Path::unpack_tile(p, t, b0);
        if (t + 1 < tiles) {
          Path::unpack_tile(p, t + 1, b1);
          rows_for_tiles<Path, 2>(cx, c0, c1, t, b0, b1, m, y);
        } else {
          rows_for_tiles<Path, 1>(cx, c0, c1, t, b0, b0, m, y);
        }
      }
    });
  }
}

constexpr KernelEntry kAmxKernels[] = {
    {"gemm_i8_q4g_32x32_amx", Op::gemm, PackedFormat::q4r16x8, Isa::amx, "amx", 40, supported_amx, pack_q4r16x8,
     run_amx<Int8Path>, kAmxInt8MinM},
    // Below the int8 path in priority: chosen by --backend amx-bf16 (no activation quantization).
    {"gemm_bf16_q4g_32x32_amx", Op::gemm, PackedFormat::q4r16x8, Isa::amx, "amx-bf16", 35, supported_amx,
     pack_q4r16x8, run_amx<Bf16Path>, kAmxBf16MinM},
};

}  // namespace

void register_amx_kernels(Registry& r) { r.add(kAmxKernels, std::size(kAmxKernels)); }

}  // namespace awqx::kernels

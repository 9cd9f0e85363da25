// gemv_f32_q4g_avx512vnni / gemm_f32_q4g_8x16_avx512vnni: y = x·dequant(W)ᵀ + bias with X
// quantized on the fly to int8 per block (block = largest power of two ≤ 32 dividing the
// group: xq = round(x·127/amax), sx = amax/127) and weights used as u8 nibbles in vpdpbusd.
// Format q4r16x8 (include/awqx/kernels.hpp): after v & 0x0F (resp. (v >> 4) & 0x0F) a 64-byte
// block is exactly vpdpbusd's u8 operand: lane r = row r, 4 consecutive k per lane.
// Per block the exact int32 dot Σ xq·q is corrected for the zero point with the exact Σ xq and
// scaled once: y += s·sx·(Σ xq·q − z·Σ xq). The only extra error vs fp32 is the int8 rounding
// of X: |x − sx·xq| ≤ sx/2 per element (bound derived in tests/kernels/gemv_q4g_test.cpp).
// Microkernel MR×16 (MR ≤ 8 rows of X share each unpacked weight block); the driver walks
// row chunks of 64 (xq chunk stays in L2) and splits 16-row tiles across threads (disjoint
// weight bytes and outputs per thread, fixed reduction order: bit-identical for any thread count).
// Oracle simd/ref/gemv_q4g_ref.cpp; tests tests/kernels/gemv_q4g_test.cpp; bench
// bench/gemv_q4g_bench.cpp, bench/gemm_q4g_bench.cpp.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm512_undefined_*() (a
// known false positive), which -Werror would turn into a build failure.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "awqx/parallel.hpp"
#include "kernels/q4r_common.hpp"

namespace awqx::kernels {
namespace {

constexpr int64_t kMc = 64;  // rows of X per chunk (int8 chunk of 64×k stays in L2)

// Activation block: the largest power of two <= kMaxActBlock dividing the group. 32 (as in
// llama.cpp's Q8_0) keeps one outlier from coarsening the int8 step of many neighbours: with
// 128-blocks the normalized RMS error on outlier-heavy activations was ~2.5%, see
// Q4KernelError.VnniVsFp32Reported.
constexpr int kMaxActBlock = 32;

int act_block(int group) {
  int b = kMaxActBlock;
  while (b > 8 && group % b != 0) b /= 2;
  return b;
}

// Quantized activations for rows [0, m): int8 values, per-block scale and Σ xq.
struct QuantX {
  std::vector<int8_t> q;     // [m][k]
  std::vector<float> scale;  // [m][blocks]
  std::vector<float> qsum;   // [m][blocks] (exact integers, ≤ 127·128, as float)
  std::vector<float> gsum;   // [m][groups]: Σ over the group's blocks of scale·qsum (zero-point term)
};

void quantize_rows(const float* x, int64_t k, int ab, int group, int64_t r0, int64_t r1, QuantX& qx) {
  const int64_t nb = k / ab, bpg = group / ab, groups = k / group;
  for (int64_t i = r0; i < r1; ++i) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xp = x + i * k + b * ab;
      __m512 amax = _mm512_setzero_ps();
      for (int c = 0; c < ab; c += 8)  // ab may be 8: use 8-lane loads
        amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_maskz_loadu_ps(0xFF, xp + c)));
      const float am = _mm512_reduce_max_ps(amax);
      const float inv = am > 0.f ? 127.f / am : 0.f;
      const __m512 vinv = _mm512_set1_ps(inv);
      int8_t* qp = qx.q.data() + i * k + b * ab;
      __m512i sum = _mm512_setzero_si512();
      for (int c = 0; c < ab; c += 8) {
        const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(0xFF, xp + c), vinv));
        sum = _mm512_add_epi32(sum, v);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(qp + c), _mm512_cvtsepi32_epi8(v));
      }
      qx.scale[static_cast<size_t>(i * nb + b)] = am / 127.f;
      qx.qsum[static_cast<size_t>(i * nb + b)] = static_cast<float>(_mm512_reduce_add_epi32(sum));
    }
    for (int64_t g = 0; g < groups; ++g) {
      float t = 0.f;
      for (int64_t b = g * bpg; b < (g + 1) * bpg; ++b)
        t += qx.scale[static_cast<size_t>(i * nb + b)] * qx.qsum[static_cast<size_t>(i * nb + b)];
      qx.gsum[static_cast<size_t>(i * groups + g)] = t;
    }
  }
}

// MR rows × one 16-row tile, all of k. Compute-bound, so the ALU op count per 64-byte weight
// block is what matters (measured 4096×4096 m=512: 29 → 24 ops per block, +~10%):
//  * one int32 chain per row takes both nibble halves (two vpdpbusd in sequence): MR = 8
//    chains still cover vpdpbusd latency, and the per-block add of two chains disappears;
//  * zero points once per group via QuantX::gsum, as in gemv_tiles, so per activation block
//    a row costs only cvt + fmadd.
template <int MR, int QB>
void micro(const PackedQ4& p, const QuantX& qx, int64_t i0, int64_t t, float* y) {
  constexpr int ab = 8 * QB;  // activation block (act_block): QB 64-byte weight blocks of 8 k
  const PackedHeader& h = p.hdr;
  const int64_t k = h.k, n = h.n, groups = h.groups(), nb = k / ab, kb = k / 8;
  const uint8_t* qt = p.q() + t * kb * 64;
  const float* st = p.scales() + t * groups * 16;
  const uint8_t* zt = p.zeros() + t * groups * 16;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const int bpg = h.group_size / ab;  // act blocks per weight group
  constexpr int qb = QB;  // a constant so the block loop unrolls without register copies
  const int64_t rows = n - t * 16 < 16 ? n - t * 16 : 16;
  const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1u);
  __m512 acc[MR];
  const __m512 bias = p.bias.empty() ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, p.bias.data() + t * 16);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r] = bias;
  for (int64_t g = 0; g < groups; ++g) {
    __m512 ag[MR];  // Σ_b sx_b·d_b over the group's activation blocks, per row
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) ag[r] = _mm512_setzero_ps();
    for (int bb = 0; bb < bpg; ++bb) {
      const int64_t b = g * bpg + bb;
      __m512i d[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) d[r] = _mm512_setzero_si512();
      const uint8_t* q = qt + b * qb * 64;
      const int8_t* xq = qx.q.data() + i0 * k + b * ab;
      for (int j = 0; j < qb; ++j, q += 64, xq += 8) {
        _mm_prefetch(reinterpret_cast<const char*>(q) + 1024, _MM_HINT_T0);
        const __m512i v = _mm512_load_si512(q);
        const __m512i wl = _mm512_and_si512(v, m4);
        const __m512i wh = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          int32_t x0, x1;
          std::memcpy(&x0, xq + r * k, 4);
          std::memcpy(&x1, xq + r * k + 4, 4);
          d[r] = _mm512_dpbusd_epi32(d[r], wl, _mm512_set1_epi32(x0));
          d[r] = _mm512_dpbusd_epi32(d[r], wh, _mm512_set1_epi32(x1));
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512 sx = _mm512_set1_ps(qx.scale[static_cast<size_t>((i0 + r) * nb + b)]);
        ag[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[r]), sx, ag[r]);
      }
    }
    const __m512 s = _mm512_load_ps(st + g * 16);
    const __m512 z = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(zt + g * 16))));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 xg = _mm512_set1_ps(qx.gsum[static_cast<size_t>((i0 + r) * groups + g)]);
      acc[r] = _mm512_fmadd_ps(_mm512_fnmadd_ps(z, xg, ag[r]), s, acc[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) _mm512_mask_storeu_ps(y + (i0 + r) * n + t * 16, mask, acc[r]);
}

using MicroFn = void (*)(const PackedQ4&, const QuantX&, int64_t, int64_t, float*);
template <int QB>
constexpr MicroFn kMicroQ[9] = {nullptr,       micro<1, QB>, micro<2, QB>, micro<3, QB>, micro<4, QB>,
                                micro<5, QB>, micro<6, QB>, micro<7, QB>, micro<8, QB>};
// By activation block (8, 16, 32 = 1, 2, 4 weight blocks) and rows.
constexpr const MicroFn* kMicro[3] = {kMicroQ<1>, kMicroQ<2>, kMicroQ<4>};

// m == 1 (decode): NT 16-row tiles at once; memory-bound, so the loop is shaped for the
// memory system rather than for the ALUs (each choice measured on 4096→11008, 2 threads):
//  * NT = 2: two weight streams per thread plus a software prefetch 2 KiB ahead keep DRAM
//    busier than 8 streams did (8 also spilled accumulators): ~34 → ~45 GB/s.
//  * the high nibble is used in place as v & 0xF0 = 16·q (vpdpbusd takes u8 up to 255; the
//    int32 sum stays exact and divisible by 16, one shift per block undoes it) — one op less
//    per 64 bytes than shift + mask.
//  * zero points are applied once per group: Σ_b sx_b·(d_b − z·qsum_b) = Σ_b sx_b·d_b − z·X_g
//    with X_g = Σ_b sx_b·qsum_b precomputed with the activations (QuantX::gsum).
template <int NT>
void gemv_tiles(const PackedQ4& p, const QuantX& qx, int ab, int64_t t0, float* y) {
  const PackedHeader& h = p.hdr;
  const int64_t k = h.k, n = h.n, groups = h.groups(), kb = k / 8;
  const __m512i m4 = _mm512_set1_epi8(0x0F), mf0 = _mm512_set1_epi8(static_cast<char>(0xF0));
  const int bpg = h.group_size / ab, qb = ab / 8;
  const uint8_t* qt[NT];
  const float* st[NT];
  const uint8_t* zt[NT];
  __mmask16 mask[NT];
  __m512 acc[NT];
#pragma GCC unroll 8
  for (int u = 0; u < NT; ++u) {
    const int64_t t = t0 + u, rows = n - t * 16 < 16 ? n - t * 16 : 16;
    qt[u] = p.q() + t * kb * 64;
    st[u] = p.scales() + t * groups * 16;
    zt[u] = p.zeros() + t * groups * 16;
    mask[u] = static_cast<__mmask16>((1u << rows) - 1u);
    acc[u] = p.bias.empty() ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[u], p.bias.data() + t * 16);
  }
  for (int64_t g = 0; g < groups; ++g) {
    __m512 ag[NT];  // Σ_b sx_b·d_b over the group's activation blocks
#pragma GCC unroll 8
    for (int u = 0; u < NT; ++u) ag[u] = _mm512_setzero_ps();
    for (int bb = 0; bb < bpg; ++bb) {
      const int64_t b = g * bpg + bb, off = b * qb * 64;
      __m512i lo[NT], hi[NT];
#pragma GCC unroll 8
      for (int u = 0; u < NT; ++u) lo[u] = hi[u] = _mm512_setzero_si512();
      const int8_t* xq = qx.q.data() + b * ab;
      for (int j = 0; j < qb; ++j) {
        int32_t x0, x1;
        std::memcpy(&x0, xq + 8 * j, 4);
        std::memcpy(&x1, xq + 8 * j + 4, 4);
        const __m512i b0 = _mm512_set1_epi32(x0), b1 = _mm512_set1_epi32(x1);
#pragma GCC unroll 8
        for (int u = 0; u < NT; ++u) {
          const uint8_t* q = qt[u] + off + j * 64;
          _mm_prefetch(reinterpret_cast<const char*>(q) + 2048, _MM_HINT_T0);
          const __m512i v = _mm512_load_si512(q);
          lo[u] = _mm512_dpbusd_epi32(lo[u], _mm512_and_si512(v, m4), b0);
          hi[u] = _mm512_dpbusd_epi32(hi[u], _mm512_and_si512(v, mf0), b1);
        }
      }
      const __m512 sx = _mm512_set1_ps(qx.scale[static_cast<size_t>(b)]);
#pragma GCC unroll 8
      for (int u = 0; u < NT; ++u) {
        const __m512i d = _mm512_add_epi32(lo[u], _mm512_srai_epi32(hi[u], 4));
        ag[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), sx, ag[u]);
      }
    }
    const __m512 xg = _mm512_set1_ps(qx.gsum[static_cast<size_t>(g)]);
#pragma GCC unroll 8
    for (int u = 0; u < NT; ++u) {
      const __m512 sc = _mm512_load_ps(st[u] + g * 16);
      const __m512 z = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(zt[u] + g * 16))));
      acc[u] = _mm512_fmadd_ps(_mm512_fnmadd_ps(z, xg, ag[u]), sc, acc[u]);
    }
  }
#pragma GCC unroll 8
  for (int u = 0; u < NT; ++u) _mm512_mask_storeu_ps(y + (t0 + u) * 16, mask[u], acc[u]);
}

void run_vnni(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const PackedHeader& h = p.hdr;
  const int64_t k = h.k, tiles = h.n_pad / 16;
  const int ab = act_block(h.group_size);
  // thread_local storage of the calling thread; workers must use it through this reference
  // (naming a thread_local inside the parallel lambda would give each worker its own copy).
  thread_local QuantX tls;
  QuantX& qx = tls;
  qx.q.resize(static_cast<size_t>(m * k));
  qx.scale.resize(static_cast<size_t>(m * (k / ab)));
  qx.qsum.resize(qx.scale.size());
  qx.gsum.resize(static_cast<size_t>(m * h.groups()));
  // Each row is quantized by one thread, independently: same bytes for any thread count.
  parallel_for(0, m, std::max<int64_t>(1, (m + num_threads() - 1) / num_threads()),
               [&](int64_t r0, int64_t r1) { quantize_rows(x, k, ab, h.group_size, r0, r1, qx); });
  const QuantX& cq = qx;
  const int64_t grain = tile_grain(tiles, num_threads());
  if (m == 1) {
    constexpr int kNt = 2;
    parallel_for(0, tiles, grain, [&](int64_t t0, int64_t t1) {
      int64_t t = t0;
      for (; t + kNt <= t1; t += kNt) gemv_tiles<kNt>(p, cq, ab, t, y);
      for (; t < t1; ++t) gemv_tiles<1>(p, cq, ab, t, y);
    });
    return;
  }
  const MicroFn* micro_of = kMicro[ab == 8 ? 0 : ab == 16 ? 1 : 2];
  for (int64_t c0 = 0; c0 < m; c0 += kMc) {
    const int64_t c1 = std::min(m, c0 + kMc);
    parallel_for(0, tiles, grain, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t i = c0; i < c1; i += 8) micro_of[std::min<int64_t>(8, c1 - i)](p, cq, i, t, y);
    });
  }
}

constexpr KernelEntry kVnniKernels[] = {
    {"gemv_f32_q4g_avx512vnni", Op::gemv, PackedFormat::q4r16x8, Isa::avx512vnni, "avx512vnni", 30, supported_q4r,
     pack_q4r16x8, run_vnni},
    {"gemm_f32_q4g_8x16_avx512vnni", Op::gemm, PackedFormat::q4r16x8, Isa::avx512vnni, "avx512vnni", 30,
     supported_q4r, pack_q4r16x8, run_vnni},
};

}  // namespace

void register_avx512vnni_kernels(Registry& r) { r.add(kVnniKernels, std::size(kVnniKernels)); }

}  // namespace awqx::kernels

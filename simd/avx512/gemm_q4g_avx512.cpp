// gemm_f32_q4g_12x32_avx512: int4 GEMM for m >= 2 on AVX-512 F/BW/VL/DQ, fp32 math.
// Format q4r16x8 (include/awqx/kernels.hpp). Per pair of 16-row tiles (32 output columns) the
// driver dequantizes the whole k range once into an fp32 panel P[k][32] = (q − z)·s (k·128
// bytes: 512 KiB at k = 4096, L2-resident) and reuses it for every row of X; the 12×32
// microkernel keeps 24 zmm accumulators, per k: 2 panel loads, 12 broadcasts, 24 FMAs.
// X rows stream from L3 (4 B per FMA-pair cycle, far below L3 bandwidth). Threads take
// contiguous ranges of tile pairs; each output is reduced by one thread in k order, so
// results do not depend on the thread count.
// Oracle simd/ref/gemv_q4g_ref.cpp; test tests/kernels/gemv_q4g_test.cpp; bench
// bench/gemm_q4g_bench.cpp.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm512_undefined_*() (a
// known false positive), which -Werror would turn into a build failure.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <vector>

#include "awqx/parallel.hpp"
#include "kernels/q4r_common.hpp"

namespace awqx::kernels {
namespace {

constexpr int kMr = 12;

// P[c][0..31] for c in [0, k): rows 32·tp .. 32·tp + 31 (second tile may be padding).
void dequant_panel(const PackedQ4& p, int64_t tp, float* panel) {
  const PackedHeader& h = p.hdr;
  const int64_t k = h.k, groups = h.groups(), kb = k / 8, tiles = h.n_pad / 16;
  const __m512i mask = _mm512_set1_epi32(0xF);
  for (int half = 0; half < 2; ++half) {
    const int64_t t = 2 * tp + half;
    float* out = panel + 16 * half;
    if (t >= tiles) {
      for (int64_t c = 0; c < k; ++c) _mm512_store_ps(out + c * 32, _mm512_setzero_ps());
      continue;
    }
    const uint8_t* qt = p.q() + t * kb * 64;
    const float* st = p.scales() + t * groups * 16;
    const uint8_t* zt = p.zeros() + t * groups * 16;
    for (int64_t g = 0; g < groups; ++g) {
      const __m512 s = _mm512_load_ps(st + g * 16);
      const __m512 z = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(zt + g * 16))));
      for (int64_t b = g * h.group_size / 8; b < (g + 1) * h.group_size / 8; ++b) {
        const __m512i v = _mm512_load_si512(qt + b * 64);
        float* o = out + b * 8 * 32;
        for (int j = 0; j < 4; ++j) {
          // (q − z) is exact in fp32, so each panel value equals the ref's dequant() bit for bit.
          const __m512 ql = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 8 * j), mask));
          const __m512 qh = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 8 * j + 4), mask));
          _mm512_store_ps(o + j * 32, _mm512_mul_ps(_mm512_sub_ps(ql, z), s));
          _mm512_store_ps(o + (4 + j) * 32, _mm512_mul_ps(_mm512_sub_ps(qh, z), s));
        }
      }
    }
  }
}

template <int MR>
void micro(const float* panel, const float* x, int64_t k, int64_t ldy, const float* bias, __mmask16 m0,
           __mmask16 m1, float* y) {
  __m512 a[MR][2];
  const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) a[r][0] = b0, a[r][1] = b1;
  for (int64_t c = 0; c < k; ++c) {
    const __m512 p0 = _mm512_load_ps(panel + c * 32), p1 = _mm512_load_ps(panel + c * 32 + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * k + c]);
      a[r][0] = _mm512_fmadd_ps(xv, p0, a[r][0]);
      a[r][1] = _mm512_fmadd_ps(xv, p1, a[r][1]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, m0, a[r][0]);
    _mm512_mask_storeu_ps(y + r * ldy + 16, m1, a[r][1]);
  }
}

using MicroFn = void (*)(const float*, const float*, int64_t, int64_t, const float*, __mmask16, __mmask16, float*);
constexpr MicroFn kMicro[kMr + 1] = {nullptr,   micro<1>, micro<2>, micro<3>,  micro<4>,  micro<5>, micro<6>,
                                     micro<7>, micro<8>, micro<9>, micro<10>, micro<11>, micro<12>};

__mmask16 cols_mask(int64_t cols) {
  if (cols <= 0) return 0;
  return cols >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << cols) - 1u);
}

void run_gemm(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const PackedHeader& h = p.hdr;
  const int64_t n = h.n, k = h.k, pairs = (h.n_pad / 16 + 1) / 2;
  parallel_for(0, pairs, tile_grain(pairs, num_threads()), [&](int64_t p0, int64_t p1) {
    thread_local std::vector<float, std::allocator<float>> buf;
    buf.resize(static_cast<size_t>(k * 32 + 16));
    float* panel = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
    for (int64_t tp = p0; tp < p1; ++tp) {
      dequant_panel(p, tp, panel);
      const int64_t col = tp * 32;
      const __mmask16 m0 = cols_mask(n - col), m1 = cols_mask(n - col - 16);
      const float* bias = p.bias.empty() ? nullptr : p.bias.data() + col;
      // Masked bias loads never touch lanes past n (maskz loads suppress faults).
      for (int64_t i = 0; i < m; i += kMr) {
        const int64_t mr = std::min<int64_t>(kMr, m - i);
        kMicro[mr](panel, x + i * k, k, n, bias, m0, m1, y + i * n + col);
      }
    }
  });
}

}  // namespace

extern const KernelEntry kAvx512GemmEntry;
const KernelEntry kAvx512GemmEntry = {"gemm_f32_q4g_12x32_avx512", Op::gemm, PackedFormat::q4r16x8, Isa::avx512,
                                      "avx512", 20, supported_q4r, pack_q4r16x8, run_gemm};

}  // namespace awqx::kernels

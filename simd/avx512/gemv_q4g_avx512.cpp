// gemv_f32_q4g_avx512: y[i][n] = x[i][k]·dequant(W)ᵀ + bias on AVX-512 F/BW/VL/DQ, fp32 math.
// Format q4r16x8 (include/awqx/kernels.hpp): one 64-byte block = 16 rows × 8 k; the 32-bit lane
// r holds row r's nibbles, so lane-wise (v >> 4j') & 0xF followed by cvtdq2ps gives 16 rows'
// weights for one k, and an FMA with broadcast x[k] accumulates Σ x·q per row. Zero points and
// scales are applied once per group: y += s·(Σ x·q − z·Σ x). Tile 1×16 (m is looped), threads
// split the tiles into contiguous ranges (each thread streams disjoint weight bytes).
// Oracle: simd/ref/gemv_q4g_ref.cpp; test tests/kernels/gemv_q4g_test.cpp;
// bench bench/gemv_q4g_bench.cpp.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm512_undefined_*() (a
// known false positive), which -Werror would turn into a build failure.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "awqx/parallel.hpp"
#include "kernels/q4r_common.hpp"

namespace awqx::kernels {
namespace {

// Σ x·q over one group for 16 rows; four accumulators hide the FMA latency.
inline __m512 group_dot(const uint8_t* q, const float* x, int blocks) {
  const __m512i mask = _mm512_set1_epi32(0xF);
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  for (int b = 0; b < blocks; ++b, q += 64, x += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(q) + 2048, _MM_HINT_T0);
    const __m512i v = _mm512_load_si512(q);
    a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, mask)), _mm512_set1_ps(x[0]), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 8), mask)), _mm512_set1_ps(x[1]), a1);
    a2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 16), mask)), _mm512_set1_ps(x[2]), a2);
    a3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 24), mask)), _mm512_set1_ps(x[3]), a3);
    a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 4), mask)), _mm512_set1_ps(x[4]), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 12), mask)), _mm512_set1_ps(x[5]), a1);
    a2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 20), mask)), _mm512_set1_ps(x[6]), a2);
    a3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 28)), _mm512_set1_ps(x[7]), a3);
  }
  return _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
}

void run_gemv(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const PackedHeader& h = p.hdr;
  const int64_t n = h.n, k = h.k, groups = h.groups(), tiles = h.n_pad / 16, kb = k / 8;
  const int gblocks = h.group_size / 8;
  thread_local std::vector<float> xsum;
  group_sums(x, m, k, h.group_size, xsum);
  const float* xs = xsum.data();
  parallel_for(0, tiles, tile_grain(tiles, num_threads()), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const uint8_t* qt = p.q() + t * kb * 64;
      const float* st = p.scales() + t * groups * 16;
      const uint8_t* zt = p.zeros() + t * groups * 16;
      const int64_t rows = n - t * 16 < 16 ? n - t * 16 : 16;
      const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1u);
      __m512 bias = _mm512_setzero_ps();
      if (!p.bias.empty()) bias = _mm512_maskz_loadu_ps(mask, p.bias.data() + t * 16);
      for (int64_t i = 0; i < m; ++i) {
        const float* xi = x + i * k;
        __m512 acc = bias;
        for (int64_t g = 0; g < groups; ++g) {
          const __m512 dot = group_dot(qt + g * gblocks * 64, xi + g * h.group_size, gblocks);
          const __m512 z = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(zt + g * 16))));
          const __m512 s = _mm512_load_ps(st + g * 16);
          acc = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(z, _mm512_set1_ps(xs[i * groups + g]), dot), acc);
        }
        _mm512_mask_storeu_ps(y + i * n + t * 16, mask, acc);
      }
    }
  });
}

constexpr KernelEntry kAvx512Kernels[] = {
    {"gemv_f32_q4g_avx512", Op::gemv, PackedFormat::q4r16x8, Isa::avx512, "avx512", 20, supported_q4r, pack_q4r16x8,
     run_gemv},
};

}  // namespace

extern const KernelEntry kAvx512GemmEntry;  // gemm_q4g_avx512.cpp

void register_avx512_kernels(Registry& r) {
  r.add(kAvx512Kernels, std::size(kAvx512Kernels));
  r.add(&kAvx512GemmEntry, 1);
}

}  // namespace awqx::kernels

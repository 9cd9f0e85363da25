// gemv_f32_q4g_avx2: y[i][n] = x[i][k]·dequant(W)ᵀ + bias on AVX2+FMA+F16C, fp32 math.
// Format q4r16x8 (include/awqx/kernels.hpp): a 64-byte block is 16 rows × 8 k; its first
// 32 bytes are rows 0..7, the last 32 rows 8..15, with row r's 8 nibbles in 32-bit lane r, so
// (v >> 4j') & 0xF then cvtdq2ps gives 8 rows' weights for one k; FMA with broadcast x[k].
// Zero point and scale once per group: y += s·(Σ x·q − z·Σ x). Tile 1×16 (m is looped; the
// tile's weights stay in L1/L2 across rows). Threads take contiguous ranges of 16-row tiles.
// Oracle simd/ref/gemv_q4g_ref.cpp; test tests/kernels/gemv_q4g_test.cpp; bench
// bench/gemv_q4g_bench.cpp.
#include <immintrin.h>

#include "awqx/parallel.hpp"
#include "kernels/q4r_common.hpp"

namespace awqx::kernels {
namespace {

inline __m256 nib(__m256i v, int shift, __m256i mask) {
  return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(v, shift), mask));
}

// Σ x·q over one group for rows 0..7 (d0) and 8..15 (d1).
inline void group_dot(const uint8_t* q, const float* x, int blocks, __m256& d0, __m256& d1) {
  const __m256i mask = _mm256_set1_epi32(0xF);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
  for (int b = 0; b < blocks; ++b, q += 64, x += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(q) + 2048, _MM_HINT_T0);
    const __m256i v0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(q));
    const __m256i v1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 32));
    for (int j = 0; j < 4; ++j) {
      const __m256 xl = _mm256_broadcast_ss(x + j), xh = _mm256_broadcast_ss(x + 4 + j);
      a0 = _mm256_fmadd_ps(nib(v0, 8 * j, mask), xl, a0);
      b0 = _mm256_fmadd_ps(nib(v1, 8 * j, mask), xl, b0);
      a1 = _mm256_fmadd_ps(nib(v0, 8 * j + 4, mask), xh, a1);
      b1 = _mm256_fmadd_ps(nib(v1, 8 * j + 4, mask), xh, b1);
    }
  }
  d0 = _mm256_add_ps(a0, a1);
  d1 = _mm256_add_ps(b0, b1);
}

void run_gemv(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const PackedHeader& h = p.hdr;
  const int64_t n = h.n, k = h.k, groups = h.groups(), tiles = h.n_pad / 16, kb = k / 8;
  const int gblocks = h.group_size / 8;
  thread_local std::vector<float> xsum;
  group_sums(x, m, k, h.group_size, xsum);
  const float* xs = xsum.data();
  parallel_for(0, tiles, tile_grain(tiles, num_threads()), [&](int64_t t0, int64_t t1) {
    alignas(32) float out[16];
    for (int64_t t = t0; t < t1; ++t) {
      const uint8_t* qt = p.q() + t * kb * 64;
      const float* st = p.scales() + t * groups * 16;
      const uint8_t* zt = p.zeros() + t * groups * 16;
      const int64_t rows = n - t * 16 < 16 ? n - t * 16 : 16;
      for (int64_t i = 0; i < m; ++i) {
        const float* xi = x + i * k;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (int64_t g = 0; g < groups; ++g) {
          __m256 d0, d1;
          group_dot(qt + g * gblocks * 64, xi + g * h.group_size, gblocks, d0, d1);
          const __m128i zb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(zt + g * 16));
          const __m256 z0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(zb));
          const __m256 z1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(zb, 8)));
          const __m256 xsg = _mm256_set1_ps(xs[i * groups + g]);
          acc0 = _mm256_fmadd_ps(_mm256_load_ps(st + g * 16), _mm256_fnmadd_ps(z0, xsg, d0), acc0);
          acc1 = _mm256_fmadd_ps(_mm256_load_ps(st + g * 16 + 8), _mm256_fnmadd_ps(z1, xsg, d1), acc1);
        }
        _mm256_store_ps(out, acc0);
        _mm256_store_ps(out + 8, acc1);
        float* yi = y + i * n + t * 16;
        for (int64_t r = 0; r < rows; ++r) yi[r] = out[r] + (p.bias.empty() ? 0.f : p.bias[t * 16 + r]);
      }
    }
  });
}

constexpr KernelEntry kAvx2Kernels[] = {
    {"gemv_f32_q4g_avx2", Op::gemv, PackedFormat::q4r16x8, Isa::avx2, "avx2", 10, supported_q4r, pack_q4r16x8,
     run_gemv},
};

}  // namespace

extern const KernelEntry kAvx2GemmEntry;  // gemm_q4g_avx2.cpp

void register_avx2_kernels(Registry& r) {
  r.add(kAvx2Kernels, std::size(kAvx2Kernels));
  r.add(&kAvx2GemmEntry, 1);
}

}  // namespace awqx::kernels

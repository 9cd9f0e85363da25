// gemm_f32_q4g_6x16_avx2: int4 GEMM for m >= 2 on AVX2+FMA+F16C, fp32 math.
// Format q4r16x8 (include/awqx/kernels.hpp). Per 16-row tile the driver dequantizes the
// whole k range once into an fp32 panel P[k][16] = (q − z)·s (64 B per k, L2-resident) and
// reuses it for every row of X; the 6×16 microkernel keeps 12 ymm accumulators, per k:
// 2 panel loads, 6 broadcasts, 12 FMAs. Threads take contiguous tile ranges; each output is
// reduced by one thread in k order (thread-count independent).
// Oracle simd/ref/gemv_q4g_ref.cpp; test tests/kernels/gemv_q4g_test.cpp; bench
// bench/gemm_q4g_bench.cpp.
#include <immintrin.h>

#include <vector>

#include "awqx/parallel.hpp"
#include "kernels/q4r_common.hpp"

namespace awqx::kernels {
namespace {

constexpr int kMr = 6;

void dequant_panel(const PackedQ4& p, int64_t t, float* panel) {
  const PackedHeader& h = p.hdr;
  const int64_t k = h.k, groups = h.groups(), kb = k / 8;
  const __m256i mask = _mm256_set1_epi32(0xF);
  const uint8_t* qt = p.q() + t * kb * 64;
  const float* st = p.scales() + t * groups * 16;
  const uint8_t* zt = p.zeros() + t * groups * 16;
  for (int64_t g = 0; g < groups; ++g) {
    const __m128i zb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(zt + g * 16));
    const __m256 z[2] = {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(zb)),
                         _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(zb, 8)))};
    const __m256 s[2] = {_mm256_load_ps(st + g * 16), _mm256_load_ps(st + g * 16 + 8)};
    for (int64_t b = g * h.group_size / 8; b < (g + 1) * h.group_size / 8; ++b) {
      float* o = panel + b * 8 * 16;
      for (int half = 0; half < 2; ++half) {
        const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(qt + b * 64 + 32 * half));
        for (int j = 0; j < 8; ++j) {  // k = 8b + j: low nibble of byte j (j < 4), high of byte j − 4
          const int shift = j < 4 ? 8 * j : 8 * (j - 4) + 4;
          const __m256 q = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(v, shift), mask));
          _mm256_store_ps(o + j * 16 + 8 * half, _mm256_mul_ps(_mm256_sub_ps(q, z[half]), s[half]));
        }
      }
    }
  }
}

template <int MR>
void micro(const float* panel, const float* x, int64_t k, int64_t ldy, const float* bias, int64_t cols, float* y) {
  __m256 a[MR][2];
  alignas(32) float bb[16] = {};
  for (int64_t c = 0; c < cols && bias; ++c) bb[c] = bias[c];
  const __m256 b0 = _mm256_load_ps(bb), b1 = _mm256_load_ps(bb + 8);
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) a[r][0] = b0, a[r][1] = b1;
  for (int64_t c = 0; c < k; ++c) {
    const __m256 p0 = _mm256_load_ps(panel + c * 16), p1 = _mm256_load_ps(panel + c * 16 + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x + r * k + c);
      a[r][0] = _mm256_fmadd_ps(xv, p0, a[r][0]);
      a[r][1] = _mm256_fmadd_ps(xv, p1, a[r][1]);
    }
  }
  alignas(32) float out[16];
  for (int r = 0; r < MR; ++r) {
    if (cols == 16) {
      _mm256_storeu_ps(y + r * ldy, a[r][0]);
      _mm256_storeu_ps(y + r * ldy + 8, a[r][1]);
    } else {
      _mm256_store_ps(out, a[r][0]);
      _mm256_store_ps(out + 8, a[r][1]);
      for (int64_t c = 0; c < cols; ++c) y[r * ldy + c] = out[c];
    }
  }
}

using MicroFn = void (*)(const float*, const float*, int64_t, int64_t, const float*, int64_t, float*);
constexpr MicroFn kMicro[kMr + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>, micro<5>, micro<6>};

void run_gemm(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const PackedHeader& h = p.hdr;
  const int64_t n = h.n, k = h.k, tiles = h.n_pad / 16;
  parallel_for(0, tiles, tile_grain(tiles, num_threads()), [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> buf;  // this worker's panel
    buf.resize(static_cast<size_t>(k * 16 + 8));
    float* panel = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 31) & ~uintptr_t{31});
    for (int64_t t = t0; t < t1; ++t) {
      dequant_panel(p, t, panel);
      const int64_t col = t * 16, cols = std::min<int64_t>(16, n - col);
      const float* bias = p.bias.empty() ? nullptr : p.bias.data() + col;
      for (int64_t i = 0; i < m; i += kMr)
        kMicro[std::min<int64_t>(kMr, m - i)](panel, x + i * k, k, n, bias, cols, y + i * n + col);
    }
  });
}

}  // namespace

extern const KernelEntry kAvx2GemmEntry;
const KernelEntry kAvx2GemmEntry = {"gemm_f32_q4g_6x16_avx2", Op::gemm, PackedFormat::q4r16x8, Isa::avx2, "avx2", 10,
                                    supported_q4r, pack_q4r16x8, run_gemm};

}  // namespace awqx::kernels

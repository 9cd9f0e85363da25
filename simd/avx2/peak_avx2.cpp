// AVX2+FMA fp32 FMA peak probe: 12 independent accumulators (FMA latency 4-5 cycles × 2 ports
// needs >= 10 in flight). Without -ffast-math the compiler cannot fold the chain away.
#include <immintrin.h>

#include "bench/peak_probes.hpp"

namespace awqx::bench {

double fma_loop_avx2(int64_t iters) {
  constexpr int kAcc = 12;
  __m256 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_set1_ps(0.001f * float(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm256_add_ps(s, acc[i]);
  volatile float sink = _mm256_cvtss_f32(s);  // keeps the loop alive
  (void)sink;
  return double(iters) * kAcc * 8 * 2;
}

}  // namespace awqx::bench

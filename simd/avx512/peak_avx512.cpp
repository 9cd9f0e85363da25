// AVX-512 fp32 FMA peak probe: 16 independent zmm accumulators (2 FMA ports × latency 4 needs
// >= 8; 16 also covers double-pumped AVX-512 on Zen 4).
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on _mm512_undefined_*() (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "bench/peak_probes.hpp"

namespace awqx::bench {

double fma_loop_avx512(int64_t iters) {
  constexpr int kAcc = 16;
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(0.001f * float(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  volatile float sink = lanes[0] + lanes[15];  // keeps the loop alive (no _mm512_reduce_*:
                                               // GCC 12 warns -Wuninitialized inside it)
  (void)sink;
  return double(iters) * kAcc * 16 * 2;
}

}  // namespace awqx::bench

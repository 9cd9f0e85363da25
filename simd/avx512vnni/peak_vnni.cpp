// AVX-512 VNNI peak probe: 16 independent vpdpbusd accumulators. One instruction = 16 lanes ×
// 4 u8·s8 multiply-adds = 128 ops (a MAC counts 2, as FLOP do for matmuls).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "bench/peak_probes.hpp"

namespace awqx::bench {

double vnni_loop_avx512(int64_t iters) {
  constexpr int kAcc = 16;
  __m512i acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-1);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  __m512i s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_epi32(s, acc[i]);
  alignas(64) int lanes[16];
  _mm512_store_si512(lanes, s);
  volatile int sink = lanes[0] + lanes[15];  // keeps the loop alive (no _mm512_reduce_*:
                                             // GCC 12 warns -Wuninitialized inside it)
  (void)sink;
  return double(iters) * kAcc * 64 * 2;
}

}  // namespace awqx::bench

// gemv_fp_avx512: FP GEMV for f32 / bf16 / f16 weights (bf16: zero-extend to 32 bits and shift
// left 16; f16: vcvtph2ps), for one row of x (decode) or a few (batched decode, up to 8 per pass
// over a block of weight rows). 2 accumulators per row of x hide FMA latency; masked tail for
// k % 32. Memory-bound at m = 1 (one stream over the weights), compute-bound from m ≈ 8.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm512_undefined_*() (a
// known false positive), which -Werror would turn into a build failure.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/fp_gemv.hpp"
#include "kernels/growing_buffer.hpp"

namespace awqx::kernels {
namespace {

constexpr __mmask16 kFull = 0xFFFF;

template <FpType T>
inline __m512 load_w(const void* w, int64_t off, __mmask16 m) {
  if constexpr (T == FpType::f32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + off);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + off);
    if constexpr (T == FpType::bf16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    else
      return _mm512_cvtph_ps(h);
  }
}

// The per-row-of-x arithmetic shared by both loops: a0 takes columns c..c+15 of each 32-column
// step and the masked tail, a1 columns c+16..c+31; y = Σ(a0 + a1) + bias. Every row of x goes
// through exactly these operations in this order whatever m is, so results are bitwise
// independent of the batch.
template <FpType T>
inline __m512 tail_sum(const void* w, int64_t o, int64_t kv, int64_t k, const float* x, __m512 a0) {
  for (int64_t c = kv; c < k; c += 16) {  // up to two masked blocks
    const __mmask16 m = k - c >= 16 ? kFull : static_cast<__mmask16>((1u << (k - c)) - 1u);
    a0 = _mm512_fmadd_ps(load_w<T>(w, o + c, m), _mm512_maskz_loadu_ps(m, x + c), a0);
  }
  return a0;
}

// m = 1: one weight row at a time, all of k, with a software prefetch 2 KiB ahead: measured on
// the 32000×4096 bf16 lm_head, 2 threads: 31 GB/s for 2 interleaved rows without prefetch, 50 GB/s
// like this (the hardware prefetcher alone does not run far enough ahead of the FMA chain).
template <FpType T>
void one_row(const void* w, int64_t k, const float* x, int64_t r0, int64_t r1, const float* bias, float* y) {
  constexpr int64_t es = T == FpType::f32 ? 4 : 2;
  const int64_t kv = k / 32 * 32;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * k;
    const char* row = static_cast<const char*>(w) + o * es;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (int64_t c = 0; c < kv; c += 32) {
      _mm_prefetch(row + c * es + 2048, _MM_HINT_T0);
      if constexpr (es == 4) _mm_prefetch(row + c * es + 2048 + 64, _MM_HINT_T0);
      a0 = _mm512_fmadd_ps(load_w<T>(w, o + c, kFull), _mm512_loadu_ps(x + c), a0);
      a1 = _mm512_fmadd_ps(load_w<T>(w, o + c + 16, kFull), _mm512_loadu_ps(x + c + 16), a1);
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(tail_sum<T>(w, o, kv, k, x, a0), a1)) + (bias ? bias[r] : 0.0f);
  }
}

// m ≥ 2: MR rows of x against a block of ≤ kBlockRows weight rows, k in slices of kSlice. Each
// 32-column weight step is widened once and used by the MR rows. Measured on the 32000×4096 bf16
// lm_head, 2 threads, m = 8 (bench/fp_linear_bench), each choice below:
//  * k is sliced (accumulators parked in acc between slices) so the FMAs read x's [MR][kSlice]
//    slice (16 KiB) from L1; unsliced, every FMA read x ([8][4096] = 128 KiB) from L2, and L2
//    bandwidth held m = 8 at 3× the m = 1 time;
//  * the block's rows are visited slice by slice, so the software prefetch goes where the stream
//    goes next (the same slice two weight rows on, or the next slice of the block's first rows);
//  * x is copied to 64-byte aligned rows padded off multiples of 4 KiB (see rows_any).
constexpr int64_t kSlice = 512;
constexpr int64_t kBlockRows = 8;
constexpr int kMaxRows = 8;  // 2·8 accumulators + 2 widened weight vectors fit the 32 zmm

template <FpType T, int MR>
void rows_sliced(const void* w, int64_t k, const float* x, int64_t ldx, int64_t r0, int64_t r1, const float* bias,
                 float* y, int64_t ldy) {
  constexpr int64_t es = T == FpType::f32 ? 4 : 2;
  const int64_t kv = k / 32 * 32;
  alignas(64) float acc[kBlockRows][MR][2][16];
  for (int64_t r = r0; r < r1; ++r)
    for (int i = 0; i < MR; ++i)
      for (int h = 0; h < 2; ++h) _mm512_store_ps(acc[r - r0][i][h], _mm512_setzero_ps());
  for (int64_t c0 = 0; c0 < kv; c0 += kSlice) {
    const int64_t c1 = std::min(kv, c0 + kSlice);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r * k;
      const int64_t pr = r + 2 < r1 ? r + 2 : std::min(r1 - 1, r0 + (r + 2 - r1)), pc = r + 2 < r1 ? 0 : kSlice;
      const char* ahead = static_cast<const char*>(w) + (pr * k + pc) * es;
      __m512 a0[MR], a1[MR];
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) a0[i] = _mm512_load_ps(acc[r - r0][i][0]), a1[i] = _mm512_load_ps(acc[r - r0][i][1]);
      for (int64_t c = c0; c < c1; c += 32) {
        _mm_prefetch(ahead + c * es, _MM_HINT_T0);
        if constexpr (es == 4) _mm_prefetch(ahead + c * es + 64, _MM_HINT_T0);
        const __m512 w0 = load_w<T>(w, o + c, kFull), w1 = load_w<T>(w, o + c + 16, kFull);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
          a0[i] = _mm512_fmadd_ps(w0, _mm512_load_ps(x + i * ldx + c), a0[i]);
          a1[i] = _mm512_fmadd_ps(w1, _mm512_load_ps(x + i * ldx + c + 16), a1[i]);
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) _mm512_store_ps(acc[r - r0][i][0], a0[i]), _mm512_store_ps(acc[r - r0][i][1], a1[i]);
    }
  }
  for (int64_t r = r0; r < r1; ++r) {
    const float b = bias ? bias[r] : 0.0f;
    for (int i = 0; i < MR; ++i) {
      const __m512 a0 = tail_sum<T>(w, r * k, kv, k, x + i * ldx, _mm512_load_ps(acc[r - r0][i][0]));
      y[i * ldy + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, _mm512_load_ps(acc[r - r0][i][1]))) + b;
    }
  }
}

template <FpType T>
void rows_any(const void* w, int64_t k, const float* x, int64_t m, int64_t r0, int64_t r1, const float* bias,
              float* y, int64_t ldy) {
  if (m == 1) return one_row<T>(w, k, x, r0, r1, bias, y);
  // x rows 64-byte aligned, and apart by a multiple of 64 bytes that is not one of 4 KiB: with
  // k = 4096 the rows sit 16 KiB apart, so one slice position of 8 rows falls into one L1 set
  // (8-way) and the loads conflict; and an unaligned 64-byte load spans two cache lines.
  const int64_t k16 = (k + 15) / 16 * 16, ldx = k16 % 1024 == 0 ? k16 + 16 : k16;
  thread_local GrowingBuffer xbuf;
  float* xp = reinterpret_cast<float*>(xbuf.get(static_cast<size_t>(m * ldx) * sizeof(float)));
  for (int64_t i = 0; i < m; ++i) std::copy(x + i * k, x + (i + 1) * k, xp + i * ldx);
  using Fn = void (*)(const void*, int64_t, const float*, int64_t, int64_t, int64_t, const float*, float*, int64_t);
  static constexpr Fn kFns[kMaxRows + 1] = {nullptr,
                                            rows_sliced<T, 1>,
                                            rows_sliced<T, 2>,
                                            rows_sliced<T, 3>,
                                            rows_sliced<T, 4>,
                                            rows_sliced<T, 5>,
                                            rows_sliced<T, 6>,
                                            rows_sliced<T, 7>,
                                            rows_sliced<T, 8>};
  // The x chunks share each weight block while it is in L1/L2: one DRAM pass for any m.
  for (int64_t rb = r0; rb < r1; rb += kBlockRows) {
    const int64_t re = std::min(r1, rb + kBlockRows);
    for (int64_t i = 0; i < m; i += kMaxRows)
      kFns[std::min<int64_t>(kMaxRows, m - i)](w, k, xp + i * ldx, ldx, rb, re, bias, y + i * ldy, ldy);
  }
}

}  // namespace

void gemv_fp_avx512(FpType t, const void* w, int64_t k, const float* x, int64_t m, int64_t r0, int64_t r1,
                    const float* bias, float* y, int64_t ldy) {
  switch (t) {
    case FpType::f32: rows_any<FpType::f32>(w, k, x, m, r0, r1, bias, y, ldy); break;
    case FpType::bf16: rows_any<FpType::bf16>(w, k, x, m, r0, r1, bias, y, ldy); break;
    case FpType::f16: rows_any<FpType::f16>(w, k, x, m, r0, r1, bias, y, ldy); break;
  }
}

}  // namespace awqx::kernels

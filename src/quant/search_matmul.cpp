// The search's matmuls (quant/awq.hpp search_matmul). bf16: AutoAWQ searches in fp16 on GPUs;
// here the matrix engine of the CPU (AMX-BF16 tiles, else AVX512-BF16) does the same work at
// several times the fp32 rate. Both operands are rounded to bf16 (round to nearest even), the
// products accumulate in fp32.
//
// Bit-reproducibility: y is computed in tiles of (row_unit rows × kColTile columns), each by a
// single-threaded oneDNN call, the tiles spread over the threads. A library GEMM may pick its
// blocking (and so its summation order) from the thread count and from M; fixed tiles make each
// element's bits depend only on its tile's shape. With row_unit = one calibration block, a rank
// holding any subset of the blocks computes the same bits for them as one process holding all:
// what makes `mpirun -np N awqx quantize` write the same bytes for every N and thread count.
#include <omp.h>

#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "awqx/error.hpp"
#include "awqx/parallel.hpp"
#include "kernels/onednn_util.hpp"
#include "model/ops.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {
namespace {

constexpr int64_t kColTile = 256;

// Runs fn with this thread's OpenMP team size set to one (oneDNN sizes its work from it).
template <class Fn>
void single_threaded(Fn&& fn) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  try {
    fn();
  } catch (...) {
    omp_set_num_threads(saved);
    throw;
  }
  omp_set_num_threads(saved);
}

void tile_f32(const float* x, const float* w, float* y, int64_t rows, int64_t cols, int64_t k, int64_t ldy) {
  const dnnl_status_t st = dnnl_sgemm('N', 'T', rows, cols, k, 1.0f, x, k, w, k, 0.0f, y, ldy);
  if (st != dnnl_success) throw Error(ErrorCode::internal, "", "dnnl_sgemm", "oneDNN sgemm failed");
}

void tile_bf16(const uint16_t* x, const uint16_t* w, float* y, int64_t rows, int64_t cols, int64_t k, int64_t ldy) {
  using dt = dnnl::memory::data_type;
  thread_local std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, std::unique_ptr<kernels::DnnlMatmul>> prims;
  auto& mm = prims[{rows, cols, k, ldy}];
  if (!mm) mm = std::make_unique<kernels::DnnlMatmul>(rows, cols, k, dt::bf16, dt::bf16, false, ldy);
  mm->run(x, w, nullptr, y, 1);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void round_bf16_span(const float* src, int64_t n, uint16_t* dst) {
  // f32_to_bf16 without its branch, so the loop vectorizes.
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, quiet = (u >> 16) | 0x40u;
    dst[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
  }
}

}  // namespace

void round_bf16(const float* src, int64_t n, uint16_t* dst) {
  parallel_for(0, n, 1 << 16, [&](int64_t a, int64_t b) { round_bf16_span(src + a, b - a, dst + a); });
}

void search_matmul(MatOperand x, MatOperand w, float* y, int64_t m, int64_t n, int64_t k, MatPrecision prec,
                   int64_t row_unit) {
  if (m == 0 || n == 0) return;
  if (row_unit <= 0 || row_unit > m) row_unit = m;
  if (m % row_unit != 0) throw Error(ErrorCode::internal, "", "search_matmul", "rows not a multiple of the row unit");
  const bool bf16 = prec == MatPrecision::bf16;
  if ((bf16 && ((!x.bf16 && !x.f32) || (!w.bf16 && !w.f32))) || (!bf16 && (!x.f32 || !w.f32)))
    throw Error(ErrorCode::internal, "", "search_matmul", "operand missing for the precision");
  // Operands without a bf16 copy are rounded here, into buffers reused across calls.
  thread_local std::vector<uint16_t> xb, wb;
  if (bf16 && !x.bf16) {
    xb.resize(static_cast<size_t>(m * k));
    round_bf16(x.f32, m * k, xb.data());
    x.bf16 = xb.data();
  }
  if (bf16 && !w.bf16) {
    wb.resize(static_cast<size_t>(n * k));
    round_bf16(w.f32, n * k, wb.data());
    w.bf16 = wb.data();
  }
  const int64_t col_tiles = (n + kColTile - 1) / kColTile, tiles = (m / row_unit) * col_tiles;
  parallel_for_rethrow(0, tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t / col_tiles * row_unit, c0 = t % col_tiles * kColTile, cols = std::min(kColTile, n - c0);
      single_threaded([&] {
        if (!bf16)
          tile_f32(x.f32 + r0 * k, w.f32 + c0 * k, y + r0 * n + c0, row_unit, cols, k, n);
        else
          tile_bf16(x.bf16 + r0 * k, w.bf16 + c0 * k, y + r0 * n + c0, row_unit, cols, k, n);
      });
    }
  });
}

}  // namespace awqx::quant

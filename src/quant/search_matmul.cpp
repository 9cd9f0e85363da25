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
#include "awqx/half.hpp"
#include "awqx/parallel.hpp"
#include "kernels/onednn_util.hpp"
#include "model/ops.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {
namespace {

constexpr int64_t kColTile = 256;

void to_bf16(const float* src, int64_t count, std::vector<uint16_t>& dst) {
  dst.resize(static_cast<size_t>(count));
  parallel_for(0, count, 1 << 16, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) dst[static_cast<size_t>(i)] = f32_to_bf16(src[i]);
  });
}

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

}  // namespace

void search_matmul(const float* x, const float* w, float* y, int64_t m, int64_t n, int64_t k, MatPrecision prec,
                   int64_t row_unit) {
  if (m == 0 || n == 0) return;
  if (row_unit <= 0 || row_unit > m) row_unit = m;
  if (m % row_unit != 0) throw Error(ErrorCode::internal, "", "search_matmul", "rows not a multiple of the row unit");
  thread_local std::vector<uint16_t> xb, wb;
  if (prec == MatPrecision::bf16) {
    to_bf16(x, m * k, xb);
    to_bf16(w, n * k, wb);
  }
  const int64_t col_tiles = (n + kColTile - 1) / kColTile, tiles = (m / row_unit) * col_tiles;
  const uint16_t* xbp = xb.data();
  const uint16_t* wbp = wb.data();
  parallel_for_rethrow(0, tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t / col_tiles * row_unit, c0 = t % col_tiles * kColTile, cols = std::min(kColTile, n - c0);
      single_threaded([&] {
        if (prec == MatPrecision::fp32)
          tile_f32(x + r0 * k, w + c0 * k, y + r0 * n + c0, row_unit, cols, k, n);
        else
          tile_bf16(xbp + r0 * k, wbp + c0 * k, y + r0 * n + c0, row_unit, cols, k, n);
      });
    }
  });
}

}  // namespace awqx::quant

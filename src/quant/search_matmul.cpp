// The search's matmuls (quant/awq.hpp search_matmul). bf16: AutoAWQ searches in fp16 on GPUs;
// here the matrix engine of the CPU (AMX-BF16 tiles, else AVX512-BF16) does the same work at
// several times the fp32 rate. Both operands are rounded to bf16 (round to nearest even), the
// products accumulate in fp32. The primitives are built once per shape and reused: a layer's
// search calls the same few shapes hundreds of times.
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "awqx/half.hpp"
#include "awqx/parallel.hpp"
#include "kernels/onednn_util.hpp"
#include "model/ops.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {
namespace {

void to_bf16(const float* src, int64_t count, std::vector<uint16_t>& dst) {
  dst.resize(static_cast<size_t>(count));
  parallel_for(0, count, 1 << 16, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) dst[static_cast<size_t>(i)] = f32_to_bf16(src[i]);
  });
}

}  // namespace

void search_matmul(const float* x, const float* w, float* y, int64_t m, int64_t n, int64_t k, MatPrecision prec) {
  if (prec == MatPrecision::fp32 || m == 0 || n == 0) {
    ops::matmul_f32(x, w, y, m, n, k);
    return;
  }
  using dt = dnnl::memory::data_type;
  thread_local std::map<std::tuple<int64_t, int64_t, int64_t>, std::unique_ptr<kernels::DnnlMatmul>> prims;
  thread_local std::vector<uint16_t> xb, wb;
  auto& mm = prims[{m, n, k}];
  if (!mm) mm = std::make_unique<kernels::DnnlMatmul>(m, n, k, dt::bf16, dt::bf16, false);
  to_bf16(x, m * k, xb);
  to_bf16(w, n * k, wb);
  mm->run(xb.data(), wb.data(), nullptr, y);
}

}  // namespace awqx::quant

// gemv_f32_q4g_ref / gemm_f32_q4g_ref: the oracle. y[i][r] = Σ_c x[i][c]·(q[r][c] − z)·s + bias[r],
// straight from Q4Weights::dequant with a double accumulator (so it is at least as accurate as
// every fast kernel). Format q4n, any m/n/k/group, no ISA flags. Tested by
// tests/kernels/gemv_q4g_test.cpp, benchmarked by bench/gemv_q4g_bench.cpp.
#include "awqx/kernels.hpp"
#include "awqx/parallel.hpp"

namespace awqx::kernels {
namespace {

void run_ref(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const Q4Weights& w = p.natural;
  const int64_t n = w.n, k = w.k;
  parallel_for(0, n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t i = 0; i < m; ++i) {
        double acc = 0.0;
        for (int64_t c = 0; c < k; ++c) acc += static_cast<double>(x[i * k + c]) * w.dequant(r, c);
        if (!p.bias.empty()) acc += p.bias[static_cast<size_t>(r)];
        y[i * n + r] = static_cast<float>(acc);
      }
    }
  });
}

constexpr KernelEntry kRefKernels[] = {
    {"gemv_f32_q4g_ref", Op::gemv, PackedFormat::q4n, Isa::ref, "ref", 0, supported_any, pack_q4n, run_ref},
    {"gemm_f32_q4g_ref", Op::gemm, PackedFormat::q4n, Isa::ref, "ref", 0, supported_any, pack_q4n, run_ref},
};

}  // namespace

void register_ref_kernels(Registry& r) { r.add(kRefKernels, std::size(kRefKernels)); }

}  // namespace awqx::kernels

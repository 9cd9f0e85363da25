// GEMM (m >= 2, prefill) benchmark for every registered int4 kernel supported here, on the
// Llama-2-7B layer shapes (g128, zero points) at m = 8, 32, 128, 512. Compute-bound, so
// weights stay warm. Counters: FLOP/s (2·m·n·k) and weight bytes/s. Baselines in the same run:
// oneDNN bf16 matmul (bf16 X and W prepared outside the timed loop) and oneDNN f32 matmul.
//   build/gemm_q4g_bench --threads 2 --benchmark_filter='4096x4096/m512'
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "bench_common.hpp"
#include "kernels/onednn_util.hpp"

namespace {

constexpr int64_t kMs[] = {8, 32, 128, 512};

void bench_kernel(benchmark::State& st, const awqx::kernels::KernelEntry* e, awqx_bench::Shape s, int64_t m) {
  const awqx::Q4Weights w = awqx_bench::random_q4(s.n, s.k, 128, true);
  const auto packed = e->pack(w);
  const auto x = awqx_bench::random_x(m, s.k);
  std::vector<float> y(static_cast<size_t>(m * s.n));
  for (auto _ : st) {
    e->run(packed, x.data(), m, y.data());
    benchmark::ClobberMemory();
  }
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * m * s.n * s.k, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["bytes_per_second"] =
      benchmark::Counter(double(packed.weight_bytes()), benchmark::Counter::kIsIterationInvariantRate);
}

void bench_onednn(benchmark::State& st, bool bf16, awqx_bench::Shape s, int64_t m) {
  using dt = dnnl::memory::data_type;
  const auto xf = awqx_bench::random_x(m, s.k);
  const auto wf = awqx_bench::random_x(s.n, s.k);
  std::vector<uint16_t> xb(xf.size()), wb(wf.size());
  for (size_t i = 0; i < xf.size(); ++i) xb[i] = awqx::f32_to_bf16(xf[i]);
  for (size_t i = 0; i < wf.size(); ++i) wb[i] = awqx::f32_to_bf16(wf[i]);
  awqx::kernels::DnnlMatmul mm(m, s.n, s.k, bf16 ? dt::bf16 : dt::f32, bf16 ? dt::bf16 : dt::f32, false);
  std::vector<float> y(static_cast<size_t>(m * s.n));
  for (auto _ : st) {
    if (bf16)
      mm.run(xb.data(), wb.data(), nullptr, y.data());
    else
      mm.run(xf.data(), wf.data(), nullptr, y.data());
    benchmark::ClobberMemory();
  }
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * m * s.n * s.k, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["bytes_per_second"] =
      benchmark::Counter(double(s.n * s.k * (bf16 ? 2 : 4)), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest = awqx_bench::take_threads_flag(argc, argv);
  int rargc = static_cast<int>(rest.size());
  benchmark::AddCustomContext("threads", std::to_string(awqx::num_threads()));
  benchmark::AddCustomContext("cpu_isa", awqx::isa_name(awqx::cpu_info().isa));
  for (const auto& s : awqx_bench::kLlamaShapes)
    for (int64_t m : kMs) {
      const std::string tag = std::string("/") + s.label + "/m" + std::to_string(m);
      awqx::kernels::Problem p{m, s.n, s.k, 128, true};
      for (const auto& e : awqx::kernels::registry().entries()) {
        if (std::string(e.family) == "ref") continue;  // minutes per iteration at these sizes
        if (!awqx::kernels::why_unsupported(e, awqx::cpu_info(), p).empty()) continue;
        if (e.op == awqx::kernels::Op::gemv) continue;  // benchmarked in the other program
        benchmark::RegisterBenchmark((std::string(e.name) + tag + "/g128").c_str(), bench_kernel, &e, s, m)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
      }
      benchmark::RegisterBenchmark(("onednn_bf16_matmul" + tag).c_str(), bench_onednn, true, s, m)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark(("onednn_f32_matmul" + tag).c_str(), bench_onednn, false, s, m)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  benchmark::Initialize(&rargc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// GEMV (m = 1, decode) benchmark for every registered int4 kernel supported here, on the
// Llama-2-7B layer shapes, g128 with zero points, cold weights (the packed weights are cloned
// and rotated through > 4× the L3 size so each iteration streams from DRAM). Counters:
// bytes_per_second (weights + scales + zeros + x + y), FLOP/s, and pct_read_bw against a
// streaming-read probe run in the same process. Baseline: oneDNN bf16 and f32 matmul at m = 1
// (also cold). Labels are registry names.
//   build/gemv_q4g_bench --threads 2 --benchmark_filter=4096to11008
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "bench_common.hpp"
#include "kernels/onednn_util.hpp"

namespace {

double g_read_bw = 0;

void bench_kernel(benchmark::State& st, const awqx::kernels::KernelEntry* e, awqx_bench::Shape s, int g) {
  const awqx::Q4Weights w = awqx_bench::random_q4(s.n, s.k, g, true);
  auto base = e->pack(w);
  std::vector<awqx::kernels::PackedQ4> copies;
  const size_t nc = awqx_bench::cold_copies(base.weight_bytes());
  for (size_t i = 1; i < nc; ++i) copies.push_back(awqx_bench::clone(base));
  copies.push_back(std::move(base));
  const auto x = awqx_bench::random_x(1, s.k);
  std::vector<float> y(static_cast<size_t>(s.n));
  size_t it = 0;
  for (auto _ : st) {
    e->run(copies[it++ % copies.size()], x.data(), 1, y.data());
    benchmark::ClobberMemory();
  }
  const double bytes = double(copies[0].weight_bytes() + (s.k + s.n) * sizeof(float));
  st.counters["bytes_per_second"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * s.n * s.k, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["copies"] = double(copies.size());
  st.counters["read_bw_GBps"] = g_read_bw / 1e9;
}

void bench_onednn(benchmark::State& st, bool bf16, awqx_bench::Shape s) {
  using dt = dnnl::memory::data_type;
  const size_t es = bf16 ? 2 : 4;
  const size_t wbytes = static_cast<size_t>(s.n * s.k) * es;
  const size_t nc = awqx_bench::cold_copies(wbytes);
  std::vector<std::vector<uint8_t>> ws(nc, std::vector<uint8_t>(wbytes, 0));
  for (auto& v : ws)
    for (size_t i = 0; i < wbytes; i += es) v[i + es - 1] = 0x3c;  // small finite values
  const auto xf = awqx_bench::random_x(1, s.k);
  std::vector<uint16_t> xb(xf.size());
  for (size_t i = 0; i < xf.size(); ++i) xb[i] = awqx::f32_to_bf16(xf[i]);
  awqx::kernels::DnnlMatmul mm(1, s.n, s.k, bf16 ? dt::bf16 : dt::f32, bf16 ? dt::bf16 : dt::f32, false);
  std::vector<float> y(static_cast<size_t>(s.n));
  size_t it = 0;
  for (auto _ : st) {
    mm.run(bf16 ? static_cast<const void*>(xb.data()) : xf.data(), ws[it++ % nc].data(), nullptr, y.data());
    benchmark::ClobberMemory();
  }
  st.counters["bytes_per_second"] = benchmark::Counter(double(wbytes), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * s.n * s.k, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["read_bw_GBps"] = g_read_bw / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest = awqx_bench::take_threads_flag(argc, argv);
  int rargc = static_cast<int>(rest.size());
  g_read_bw = awqx::measure_read_bandwidth_gbs() * 1e9;
  benchmark::AddCustomContext("threads", std::to_string(awqx::num_threads()));
  benchmark::AddCustomContext("read_bw_GBps", std::to_string(g_read_bw / 1e9));
  benchmark::AddCustomContext("cpu_isa", awqx::isa_name(awqx::cpu_info().isa));
  for (const auto& s : awqx_bench::kLlamaShapes) {
    awqx::kernels::Problem p{1, s.n, s.k, 128, true};
    for (const auto& e : awqx::kernels::registry().entries()) {
      if (!awqx::kernels::why_unsupported(e, awqx::cpu_info(), p).empty()) continue;
      if (e.op == awqx::kernels::Op::gemm) continue;  // benchmarked in the other program
      if (std::string(e.family) == "ref" && s.n * s.k > 4096 * 4096) continue;  // minutes per run
      benchmark::RegisterBenchmark((std::string(e.name) + "/" + s.label + "/g128").c_str(), bench_kernel, &e, s, 128)
          ->Unit(benchmark::kMicrosecond)->UseRealTime();
    }
    benchmark::RegisterBenchmark((std::string("onednn_bf16_matmul/") + s.label).c_str(), bench_onednn, true, s)
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("onednn_f32_matmul/") + s.label).c_str(), bench_onednn, false, s)
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
  }
  benchmark::Initialize(&rargc, rest.data());
  std::fprintf(stderr, "threads %d, measured read bandwidth %.1f GB/s\n", awqx::num_threads(), g_read_bw / 1e9);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

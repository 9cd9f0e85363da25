// FP (bf16 / f16 weight) linear at batched-decode row counts: the lm_head shape (32000×4096)
// that every decode step of every sequence reads. Three ways, cold weights (rotated copies):
//   rows/<dt>/m:    the multi-row GEMV (src/kernels/fp_gemv.hpp): weights read once per 8 rows
//   onednn/<dt>/m:  oneDNN matmul as FpLinear ran it before: bf16 → x rounded to bf16 + bf16
//                   matmul; f16 → f32 matmul on an f32 copy of the weights (2× the bytes)
//   linear/<dt>/m:  make_fp_linear's forward (what the model runs: picks one of the two by m)
// Counters: weight bytes per second, pct_read_bw (of the streaming-read bandwidth probed in-process)
// and pct_roof (of the roofline with the measured fp32 FMA peak: from m ≈ 8 the GEMV is FMA-bound).
//   build/fp_linear_bench --threads 2 --benchmark_repetitions=3 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "awqx/linear.hpp"
#include "bench_common.hpp"
#include "kernels/fp_gemv.hpp"
#include "kernels/onednn_util.hpp"

namespace {

constexpr int64_t kN = 32000, kK = 4096;
double g_read_bw = 0, g_fma_gflops = 0;

// Rotated copies of a [kN][kK] 16-bit weight with small finite values of the given type.
std::vector<std::vector<uint16_t>> weights16(bool bf16) {
  const size_t count = static_cast<size_t>(kN * kK);
  std::vector<std::vector<uint16_t>> ws(awqx_bench::cold_copies(count * 2));
  const auto v = awqx_bench::random_x(1, kK);
  for (auto& w : ws) {
    w.resize(count);
    for (size_t i = 0; i < count; ++i) {
      const float f = 0.05f * v[i % static_cast<size_t>(kK)];
      w[i] = bf16 ? awqx::f32_to_bf16(f) : awqx::f32_to_f16(f);
    }
  }
  return ws;
}

// pct_read_bw: 100 · weight bytes/s ÷ the probed read bandwidth; pct_roof: 100 · FLOP/s ÷ the
// roofline at this call's arithmetic intensity (min of bandwidth × FLOP/byte and the measured
// fp32 FMA peak). `seconds`: the timed loop's wall time (steady clock around it).
void counters(benchmark::State& st, double wbytes, int64_t m, double seconds) {
  const double flops = 2.0 * double(m * kN * kK), iters = double(st.iterations());
  const double roof = awqx::roofline_gflops(flops / wbytes, g_read_bw / 1e9, g_fma_gflops) * 1e9;
  st.counters["bytes_per_second"] = benchmark::Counter(wbytes, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["pct_read_bw"] = seconds > 0 ? 100.0 * wbytes * iters / seconds / g_read_bw : 0;
  st.counters["pct_roof"] = seconds > 0 ? 100.0 * flops * iters / seconds / roof : 0;
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void bench_rows(benchmark::State& st, bool bf16, int64_t m) {
  const auto ws = weights16(bf16);
  const auto x = awqx_bench::random_x(m, kK);
  std::vector<float> y(static_cast<size_t>(m * kN));
  const auto t = bf16 ? awqx::kernels::FpType::bf16 : awqx::kernels::FpType::f16;
  const int64_t grain = (kN + awqx::num_threads() - 1) / awqx::num_threads();
  size_t it = 0;
  const auto t0 = Clock::now();
  for (auto _ : st) {
    const uint16_t* w = ws[it++ % ws.size()].data();
    awqx::parallel_for(0, kN, grain, [&](int64_t r0, int64_t r1) {
      awqx::kernels::gemv_fp_avx512(t, w, kK, x.data(), m, r0, r1, nullptr, y.data(), kN);
    });
    benchmark::ClobberMemory();
  }
  counters(st, double(kN * kK * 2), m, since(t0));
}

void bench_onednn(benchmark::State& st, bool bf16, int64_t m) {
  using dt = dnnl::memory::data_type;
  const auto x = awqx_bench::random_x(m, kK);
  std::vector<float> y(static_cast<size_t>(m * kN));
  std::vector<std::vector<uint16_t>> w16;
  std::vector<std::vector<float>> w32;
  if (bf16) {
    w16 = weights16(true);
  } else {  // the f32 copy FpLinear kept of f16 weights
    const auto v = awqx_bench::random_x(1, kK);
    w32.resize(awqx_bench::cold_copies(static_cast<size_t>(kN * kK) * 4));
    for (auto& w : w32) {
      w.resize(static_cast<size_t>(kN * kK));
      for (size_t i = 0; i < w.size(); ++i) w[i] = 0.05f * v[i % static_cast<size_t>(kK)];
    }
  }
  const dt d = bf16 ? dt::bf16 : dt::f32;
  awqx::kernels::DnnlMatmul mm(m, kN, kK, d, d, false);
  std::vector<uint16_t> xb(x.size());
  size_t it = 0;
  const auto t0 = Clock::now();
  for (auto _ : st) {
    if (bf16) {
      for (size_t i = 0; i < xb.size(); ++i) xb[i] = awqx::f32_to_bf16(x[i]);
      mm.run(xb.data(), w16[it++ % w16.size()].data(), nullptr, y.data());
    } else {
      mm.run(x.data(), w32[it++ % w32.size()].data(), nullptr, y.data());
    }
    benchmark::ClobberMemory();
  }
  counters(st, double(kN * kK * (bf16 ? 2 : 4)), m, since(t0));
}

void bench_linear(benchmark::State& st, bool bf16, int64_t m) {
  const auto ws = weights16(bf16);
  std::vector<std::unique_ptr<awqx::Linear>> lins;
  for (const auto& w : ws) {
    awqx::TensorView v;
    v.name = "lm_head.weight";
    v.dtype = bf16 ? awqx::DType::BF16 : awqx::DType::F16;
    v.shape = {kN, kK};
    v.data = w.data();
    v.nbytes = w.size() * 2;
    lins.push_back(awqx::make_fp_linear(v));
  }
  const auto x = awqx_bench::random_x(m, kK);
  std::vector<float> y(static_cast<size_t>(m * kN));
  for (const auto& l : lins) l->forward(x.data(), m, y.data());  // one-time setup (f16's f32 copy for oneDNN)
  size_t it = 0;
  const auto t0 = Clock::now();
  for (auto _ : st) {
    lins[it++ % lins.size()]->forward(x.data(), m, y.data());
    benchmark::ClobberMemory();
  }
  counters(st, double(kN * kK * 2), m, since(t0));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest = awqx_bench::take_threads_flag(argc, argv);
  int rargc = static_cast<int>(rest.size());
  if (!awqx::cpu_info().has(awqx::Isa::avx512)) {
    std::fprintf(stderr, "fp_linear_bench: skipped, the multi-row GEMV measured here needs AVX-512\n");
    return 0;
  }
  g_read_bw = awqx::measure_read_bandwidth_gbs() * 1e9;
  g_fma_gflops = awqx::measure_peak_fma_gflops();
  benchmark::AddCustomContext("threads", std::to_string(awqx::num_threads()));
  benchmark::AddCustomContext("read_bw_GBps", std::to_string(g_read_bw / 1e9));
  for (const bool bf16 : {true, false}) {
    const std::string dt = bf16 ? "bf16" : "f16";
    for (const int64_t m : {1, 2, 4, 8, 12, 16, 24, 32}) {
      const std::string tail = "/" + dt + "/m" + std::to_string(m);
      benchmark::RegisterBenchmark(("rows" + tail).c_str(), bench_rows, bf16, m)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark(("onednn" + tail).c_str(), bench_onednn, bf16, m)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark(("linear" + tail).c_str(), bench_linear, bf16, m)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  }
  benchmark::Initialize(&rargc, rest.data());
  std::fprintf(stderr, "threads %d, measured read bandwidth %.1f GB/s, fp32 FMA peak %.1f GFLOP/s\n",
               awqx::num_threads(), g_read_bw / 1e9, g_fma_gflops);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

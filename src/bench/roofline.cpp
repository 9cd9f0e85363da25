// Roofline probes (include/awqx/roofline.hpp). The ISA-specific loops are in simd/<isa>/peak_*.cpp;
// here: buffer sizing, thread fan-out and best-of timing.
#include "awqx/roofline.hpp"

#include <sys/sysinfo.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include <omp.h>

#include "awqx/cpu.hpp"
#include "awqx/parallel.hpp"
#include "bench/peak_probes.hpp"

namespace awqx {
namespace {

using Clock = std::chrono::steady_clock;

double free_ram_bytes() {
  struct sysinfo si {};
  sysinfo(&si);
  return double(si.freeram) * si.mem_unit;
}

// Portable fallback (no ISA flags): 8 independent scalar chains; the compiler may vectorize
// with SSE2, which is what a "ref"-level machine has anyway.
double fma_loop_scalar(int64_t iters) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 0.001f * float(i);
  for (int64_t it = 0; it < iters; ++it)
    for (float& a : acc) a = a * 0.999999f + 1e-7f;
  volatile float sink = acc[0] + acc[7];
  (void)sink;
  return double(iters) * 8 * 2;
}

// Runs `loop(iters)` on every thread at once; returns the best ops/s over `reps` runs.
// The iteration count is calibrated so one run takes ~20 ms (long enough to amortize the
// parallel-region start, short enough to keep tests fast).
double best_rate(double (*loop)(int64_t), int reps) {
  const int nt = num_threads();
  int64_t iters = 1 << 14;
  for (;;) {  // calibrate on one thread
    const auto t0 = Clock::now();
    loop(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.005 || iters > (int64_t{1} << 34)) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(double(iters) * 0.02 / std::max(s, 1e-9)));
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    double ops = 0;
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(nt) reduction(+ : ops)
    ops += loop(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, ops / s);
  }
  return best;
}

}  // namespace

int64_t bench_cache_bytes() {
  if (const char* env = std::getenv("AWQX_BENCH_CACHE_MB")) {
    const long mb = std::atol(env);
    if (mb > 0) return int64_t{mb} << 20;
  }
  return std::max<int64_t>(cpu_info().l3_bytes, 32 << 20);
}

size_t cold_copies(size_t bytes, int64_t cache_bytes) {
  if (std::getenv("AWQX_BENCH_HOT")) return 1;
  bytes = std::max<size_t>(bytes, 1);
  const int64_t l3 = cache_bytes > 0 ? cache_bytes : bench_cache_bytes();
  const size_t want = static_cast<size_t>((4.0 * double(l3)) / double(bytes)) + 2;
  const size_t cap = static_cast<size_t>(std::max(1.0, 0.5 * free_ram_bytes() / double(bytes)));
  return std::max<size_t>(1, std::min(want, cap));
}

// Each thread sums its own contiguous slice with 8 independent accumulators (vectorized by the
// compiler), so the loop is limited by memory, not by adds. First touch happens in the same
// parallel layout so pages land near the threads that read them.
size_t read_probe_bytes(int64_t cache_bytes) {
  const double cache = double(cache_bytes > 0 ? cache_bytes : bench_cache_bytes());
  const double want = std::max(4.0 * cache, double(64 << 20));
  return static_cast<size_t>(std::min({want, double(size_t(4) << 30), 0.5 * free_ram_bytes()}));
}

double measure_read_bandwidth_gbs() { return measure_read_bandwidth_gbs(read_probe_bytes(0)); }

double measure_read_bandwidth_gbs(size_t want) {
  const int nt = num_threads();
  const size_t words = std::max<size_t>(want / 8 / (8 * size_t(nt)) * (8 * size_t(nt)), 8 * size_t(nt));
  std::unique_ptr<uint64_t[]> buf(new uint64_t[words]);
  const size_t per = words / static_cast<size_t>(nt);
#pragma omp parallel num_threads(nt)
  {
    uint64_t* p = buf.get() + per * static_cast<size_t>(omp_get_thread_num());
    for (size_t i = 0; i < per; ++i) p[i] = 1;
  }
  double best = 0;
  for (int rep = 0; rep < 6; ++rep) {
    uint64_t total = 0;
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(nt) reduction(+ : total)
    {
      const uint64_t* p = buf.get() + per * static_cast<size_t>(omp_get_thread_num());
      uint64_t a[8] = {};
      for (size_t i = 0; i < per; i += 8)
        for (int j = 0; j < 8; ++j) a[j] += p[i + j];
      for (int j = 0; j < 8; ++j) total += a[j];
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (total != per * static_cast<size_t>(nt)) std::abort();  // also keeps the sum alive
    best = std::max(best, double(per * static_cast<size_t>(nt) * 8) / s);
  }
  return best / 1e9;
}

double measure_peak_fma_gflops() {
  const CpuInfo& cpu = cpu_info();
  double (*loop)(int64_t) = fma_loop_scalar;
  if (cpu.has(Isa::avx512))
    loop = bench::fma_loop_avx512;
  else if (cpu.has(Isa::avx2))
    loop = bench::fma_loop_avx2;
  return best_rate(loop, 5) / 1e9;
}

double measure_peak_vnni_gops() {
  if (!cpu_info().has(Isa::avx512vnni)) return 0;
  return best_rate(bench::vnni_loop_avx512, 5) / 1e9;
}

Roofline measure_roofline(int64_t cache_bytes) {
  Roofline r;
  r.read_bw_gbs = measure_read_bandwidth_gbs(read_probe_bytes(cache_bytes));
  r.fma_gflops = measure_peak_fma_gflops();
  r.vnni_gops = measure_peak_vnni_gops();
  return r;
}

double roofline_gflops(double intensity, double bw_gbs, double peak_gflops) noexcept {
  return std::min(bw_gbs * intensity, peak_gflops);
}

}  // namespace awqx

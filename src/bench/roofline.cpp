// Roofline probes (include/awqx/roofline.hpp). The ISA-specific loops are in simd/<isa>/peak_*.cpp;
// here: buffer sizing, thread fan-out and best-of timing.
#include "awqx/roofline.hpp"

#include <sys/mman.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
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

// Runs `loop(iters)` on every thread at once and returns the best over `reps` runs of the sum
// of per-thread rates, each thread timing its own loop. On a shared box threads rarely all run
// unpreempted in the same window, so wall-time of the whole region under-reports the machine's
// peak badly (3x seen with 4 agents on 2 cores); per-thread timing with best-of does not.
// The iteration count is calibrated so one run takes ~10 ms.
double best_rate(double (*loop)(int64_t), int reps) {
  const int nt = num_threads();
  int64_t iters = 1 << 12;
  for (;;) {  // calibrate on one thread
    const auto t0 = Clock::now();
    loop(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.002 || iters > (int64_t{1} << 34)) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(double(iters) * 0.01 / std::max(s, 1e-9)));
      break;
    }
    iters *= 4;
  }
  std::vector<double> best(static_cast<size_t>(nt), 0.0);
  for (int r = 0; r < reps; ++r) {
#pragma omp parallel num_threads(nt)
    {
      const auto t0 = Clock::now();
      const double ops = loop(iters);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      double& b = best[static_cast<size_t>(omp_get_thread_num())];
      b = std::max(b, ops / s);
    }
  }
  double total = 0;
  for (double b : best) total += b;
  return total;
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

double measure_read_bandwidth_gbs() { return measure_read_bandwidth(read_probe_bytes(0)).median_gbs; }

double measure_read_bandwidth_gbs(size_t want) { return measure_read_bandwidth(want).median_gbs; }

ReadBandwidth measure_read_bandwidth(size_t want) {
  const int nt = num_threads();
  const size_t words = std::max<size_t>(want / 8 / (8 * size_t(nt)) * (8 * size_t(nt)), 8 * size_t(nt));
  // mmap + MADV_HUGEPAGE: first-touching gigabytes in 4 KiB pages costs seconds of page faults
  // (most of this probe's time on a VM); 2 MiB pages cut that ~500×. Falls back silently.
  const size_t map_bytes = words * 8;
  void* mem = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  madvise(mem, map_bytes, MADV_HUGEPAGE);
  const std::unique_ptr<void, std::function<void(void*)>> guard(mem, [map_bytes](void* p) { munmap(p, map_bytes); });
  uint64_t* const buf = static_cast<uint64_t*>(mem);
  const size_t per = words / static_cast<size_t>(nt);
#pragma omp parallel num_threads(nt)
  {
    uint64_t* p = buf + per * static_cast<size_t>(omp_get_thread_num());
    for (size_t i = 0; i < per; ++i) p[i] = 1;
  }
  // Timed in chunks of ~24 MiB (one parallel region each, like one kernel call on a 7B layer),
  // sweeping the whole buffer in order so every chunk is cold when read; best chunk rate over
  // 3 sweeps. Short windows make the probe comparable with the kernels' per-call timing: the
  // median chunk is compared with a kernel's median call, the best chunk with its best call.
  const size_t unit = 8 * static_cast<size_t>(nt);
  const size_t chunk = std::max<size_t>(unit, std::min<size_t>(words, (size_t(24) << 20) / 8) / unit * unit);
  std::vector<double> rates;
  for (int sweep = 0; sweep < 3; ++sweep)
    for (size_t c0 = 0; c0 + chunk <= words; c0 += chunk) {
      const size_t cper = chunk / static_cast<size_t>(nt);
      uint64_t total = 0;
      const auto t0 = Clock::now();
#pragma omp parallel num_threads(nt) reduction(+ : total)
      {
        const uint64_t* p = buf + c0 + cper * static_cast<size_t>(omp_get_thread_num());
        uint64_t a[8] = {};
        for (size_t i = 0; i < cper; i += 8)
          for (int j = 0; j < 8; ++j) a[j] += p[i + j];
        for (int j = 0; j < 8; ++j) total += a[j];
      }
      const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      if (total != chunk) std::abort();  // also keeps the sum alive
      rates.push_back(double(chunk * 8) / sec / 1e9);
    }
  std::sort(rates.begin(), rates.end());
  return {rates[rates.size() / 2], rates.back()};
}

double measure_peak_fma_gflops() {
  const CpuInfo& cpu = cpu_info();
  double (*loop)(int64_t) = fma_loop_scalar;
  if (cpu.has(Isa::avx512))
    loop = bench::fma_loop_avx512;
  else if (cpu.has(Isa::avx2))
    loop = bench::fma_loop_avx2;
  return best_rate(loop, 20) / 1e9;
}

double measure_peak_vnni_gops() {
  if (!cpu_info().has(Isa::avx512vnni)) return 0;
  return best_rate(bench::vnni_loop_avx512, 20) / 1e9;
}

double measure_peak_amx_int8_gops() {
  if (!cpu_info().has(Isa::amx)) return 0;
  return best_rate(bench::amx_int8_loop, 20) / 1e9;
}

double measure_peak_amx_bf16_gflops() {
  if (!cpu_info().has(Isa::amx)) return 0;
  return best_rate(bench::amx_bf16_loop, 20) / 1e9;
}

Roofline measure_roofline(int64_t cache_bytes) {
  Roofline r;
  const ReadBandwidth bw = measure_read_bandwidth(read_probe_bytes(cache_bytes));
  r.read_bw_gbs = bw.median_gbs;
  r.read_bw_best_gbs = bw.best_gbs;
  r.fma_gflops = measure_peak_fma_gflops();
  r.vnni_gops = measure_peak_vnni_gops();
  r.amx_int8_gops = measure_peak_amx_int8_gops();
  r.amx_bf16_gflops = measure_peak_amx_bf16_gflops();
  return r;
}

double roofline_gflops(double intensity, double bw_gbs, double peak_gflops) noexcept {
  return std::min(bw_gbs * intensity, peak_gflops);
}

}  // namespace awqx

// Machine limits measured in-process, for "% of roofline" reporting (awqx bench-kernels,
// awqx bench, bench/ programs). Every probe uses awqx::num_threads() OpenMP threads and returns
// the best of several runs (the box may be shared: best-of filters out interference), except the
// read bandwidth, which reports both its median and its best run.
#pragma once
#include <cstddef>
#include <cstdint>

namespace awqx {

// The cache size that benchmarks must exceed 4× to read cold data: env AWQX_BENCH_CACHE_MB if set
// (> 0), else the L3 size the CPU reports (at least 32 MiB). VMs often report the host's total L3
// (e.g. 508 MiB on a 2-vCPU slice), which makes the probes slow but not wrong; tests set the env.
int64_t bench_cache_bytes();

// Streaming read of a buffer of at least 4× bench_cache_bytes() (so it comes from DRAM; at least
// 64 MiB, at most 4 GiB and half the free RAM), all threads; timed per ~24 MiB chunk (like one
// kernel call), 3 sweeps. GB/s (1e9 bytes/s): the median chunk (what a kernel's median call is
// compared with) and the best chunk (compared with a kernel's best call). On a shared VM the
// two differ by up to 1.5x; comparing a median with a best would bias every ratio low.
struct ReadBandwidth {
  double median_gbs = 0, best_gbs = 0;
};
ReadBandwidth measure_read_bandwidth(size_t buffer_bytes);
// The median chunk rate, default buffer size / explicit buffer size in bytes.
double measure_read_bandwidth_gbs();
double measure_read_bandwidth_gbs(size_t buffer_bytes);

// fp32 FMA throughput with the best ISA usable here (AVX-512 > AVX2+FMA > scalar): the sum over
// all threads of each thread's best rate over 20 runs (each thread times itself, so preemption
// on a shared box does not hide the peak). GFLOP/s counting one FMA lane as 2 FLOP.
double measure_peak_fma_gflops();

// vpdpbusd (AVX-512 VNNI) throughput, measured like the FMA peak, in G int8 ops/s counting one
// u8·s8 multiply-add as 2 ops (comparable with the GFLOP/s of a matmul). 0 if VNNI is not usable.
double measure_peak_vnni_gops();

// AMX tile peaks (independent tdpbusd / tdpbf16ps chains on 4 accumulator tiles, all threads),
// in G ops/s (a MAC = 2). 0 where AMX is not usable.
double measure_peak_amx_int8_gops();
double measure_peak_amx_bf16_gflops();

// All of them at once (what the benchmark verbs print in their header). cache_bytes sizes the
// bandwidth buffer as in cold_copies (0 = bench_cache_bytes()).
struct Roofline {
  double read_bw_gbs = 0, fma_gflops = 0, vnni_gops = 0;  // read_bw_gbs: median chunk
  double amx_int8_gops = 0, amx_bf16_gflops = 0;           // 0 without AMX
  double read_bw_best_gbs = 0;
};
Roofline measure_roofline(int64_t cache_bytes = 0);
// Buffer size measure_read_bandwidth_gbs() uses for a given cache size (0 = bench_cache_bytes()).
size_t read_probe_bytes(int64_t cache_bytes);

// Attainable GFLOP/s for a kernel with arithmetic `intensity` (FLOP per byte read) on a machine
// with `bw_gbs` read bandwidth and `peak_gflops` compute: min(bw · intensity, peak).
double roofline_gflops(double intensity, double bw_gbs, double peak_gflops) noexcept;

// How many copies of a `bytes`-sized working set to rotate through so every pass reads cold data
// (not in any cache): enough for >= 4× cache_bytes (0 = bench_cache_bytes()), capped by half the
// free RAM, >= 1. Env AWQX_BENCH_HOT=1 returns 1 (analysis only: weights stay in cache).
size_t cold_copies(size_t bytes, int64_t cache_bytes = 0);

}  // namespace awqx

// `awqx bench-kernels`: times every selected int4 kernel (kernels.hpp registry) and the oneDNN
// fp32 / bf16 matmul baselines on the same shapes in one run, against this machine's roofline
// (roofline.hpp, measured in the same run). Every CLI flag is a field of BenchKernelsOptions.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "awqx/roofline.hpp"

namespace awqx {

struct BenchKernelsOptions {
  std::vector<int64_t> m = {1, 8, 32, 128, 512};  // --m
  int64_t k = 0, n = 0;       // --k / --n; both 0 = the Llama-2-7B shapes, one 0 = 4096
  int group_size = 128;       // --group-size: 32, 64, 128, 256, or -1 / k = per-channel
  bool zero_point = true;     // --zero-point / --no-zero-point
  std::string kernels = "all";  // --kernels: "all" or comma-separated names or families
  bool baselines = true;      // --no-baselines turns off the oneDNN matmuls
  int threads = 0;            // --threads (0 = physical cores)
  int repeats = 0;            // --repeats: timed runs per cell (0 = auto: >= 5 and >= 0.3 s)
  int cache_mb = 0;           // --cache-mb: cache to exceed 4× with cold copies (0 = bench_cache_bytes())
  std::string json_path, csv_path, plot_path;  // --json / --csv / --plot (PNG via gnuplot)
  bool progress = true;       // progress line on stderr (only when stderr is a TTY)
};

// One cell: a kernel (or baseline) on one shape at one m.
struct BenchKernelsRow {
  std::string kernel, family, op;  // baselines: onednn_f32_matmul / onednn_bf16_matmul, "baseline"
  std::string shape;               // "4096to11008" (k to n) or "4096x4096"
  int64_t m = 0, n = 0, k = 0;
  std::string status = "ok";       // "ok" or "skipped: <reason>"
  double median_ms = 0, min_ms = 0;
  int runs = 0;
  size_t copies = 0;               // cold copies rotated through
  size_t weight_bytes = 0;         // bytes of weights (+ scales, zeros) per run
  double gbs = 0;                  // weight bytes / median time
  double gflops = 0;               // 2·m·n·k / median time
  double pct_bw = 0;               // gbs / measured read bandwidth (median chunk) · 100
  double pct_bw_best = 0;          // best run's GB/s / best probe chunk · 100
  double roof_gflops = 0;          // min(BW · intensity, peak) for this kernel's compute type
  double pct_roof = 0;             // gflops / roof_gflops · 100
  bool ok() const noexcept { return status == "ok"; }
};

// Best int4 kernel per m: lowest total median time over all shapes.
struct BenchKernelsBest {
  int64_t m = 0;
  std::string kernel;
  double total_ms = 0;
  double speedup_vs_bf16 = 0, speedup_vs_f32 = 0, speedup_vs_u8s8 = 0;  // baseline total / kernel total (0 = no baseline)
};

struct BenchKernelsReport {
  std::string cpu, isa;
  int threads = 0;
  int64_t cache_bytes = 0;  // the cache size cold rotation exceeded 4×
  int group_size = 128;
  bool zero_point = true;
  Roofline roof;
  double bf16_peak_gflops = 0;  // 2 × FMA peak with AVX512-BF16 (vdpbf16ps: 2 MACs per lane), else FMA peak
  std::vector<BenchKernelsRow> rows;
  std::vector<BenchKernelsBest> best;
};

// Checks options without running anything; Error{invalid_argument} naming the flag.
void validate(const BenchKernelsOptions& o);
// Runs the benchmark (validates first; checks gnuplot up front when plot_path is set), writes
// the JSON / CSV / PNG outputs that are set. Progress goes to `progress` when it is a TTY.
BenchKernelsReport bench_kernels(const BenchKernelsOptions& o, std::FILE* progress = stderr);

std::string bench_kernels_table(const BenchKernelsReport& r);  // human-readable, for stdout
std::string bench_kernels_json(const BenchKernelsReport& r);
std::string bench_kernels_csv(const BenchKernelsReport& r);
// Writes <png>.gp and <png>.dat and runs gnuplot to make <png> (GFLOP/s vs m per kernel, one
// panel per shape, log x). Error{io} if gnuplot is not installed or fails.
void plot_bench_kernels(const BenchKernelsReport& r, const std::string& png_path);

}  // namespace awqx

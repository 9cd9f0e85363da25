// `awqx bench-kernels`: int4 kernels vs oneDNN fp32/bf16 matmul against this machine's measured
// roofline. Flags map 1:1 onto awqx::BenchKernelsOptions (include/awqx/bench_kernels.hpp).
//   awqx bench-kernels --threads 2 --json k.json --csv k.csv --plot k.png
#include <cstdio>

#include "awqx/bench_kernels.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {

void add_bench_kernels_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench-kernels", "benchmark int4 kernels vs oneDNN against the measured roofline");
  static BenchKernelsOptions opts;  // CLI11 keeps references: must outlive parsing
  BenchKernelsOptions* o = &opts;
  cmd->add_option("--m", o->m, "comma-separated row counts of X (default 1,8,32,128,512)")->delimiter(',');
  cmd->add_option("--k", o->k, "input features (default: the Llama-2-7B shapes)");
  cmd->add_option("--n", o->n, "output features (default: the Llama-2-7B shapes)");
  cmd->add_option("--group-size", o->group_size, "quantization group size: 32, 64, 128, 256, -1 = per-channel");
  cmd->add_flag("--zero-point,!--no-zero-point", o->zero_point, "asymmetric groups with zero points (default on)");
  cmd->add_option("--kernels", o->kernels, "all, or comma-separated kernel names / families (see `awqx kernels`)");
  cmd->add_flag("!--no-baselines", o->baselines, "skip the oneDNN fp32 / bf16 matmul baselines");
  cmd->add_option("--threads", o->threads, "worker threads (default: physical cores)");
  cmd->add_option("--repeats", o->repeats, "timed runs per cell, median reported (default 0 = auto)");
  cmd->add_option("--cache-mb", o->cache_mb, "cache size (MiB) that cold weight copies exceed 4x (default: L3)");
  cmd->add_option("--json", o->json_path, "write all results as JSON");
  cmd->add_option("--csv", o->csv_path, "write all results as CSV");
  cmd->add_option("--plot", o->plot_path, "write a PNG of GFLOP/s vs m per kernel (needs gnuplot)");
  cmd->callback([o] {
    const BenchKernelsReport r = bench_kernels(*o, stderr);
    std::fputs(bench_kernels_table(r).c_str(), stdout);
  });
}

}  // namespace awqx::cli

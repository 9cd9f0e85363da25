// One function per CLI verb; each lives in src/cli/cmd_<verb>.cpp.
#pragma once
#include <CLI/CLI.hpp>

#include "awqx/comm.hpp"
#include "awqx/kv_cache.hpp"

namespace awqx::cli {
// Flags shared by every verb that runs a model: --threads, --backend.
struct RunFlags {
  int threads = 0;
  std::string backend;
};
void add_run_flags(CLI::App* cmd, RunFlags& f);
// Numeric checks whose failure reads "--flag: must be >= 0, got -3" (CLI11's own range check
// prints the float limits of the type).
const CLI::Validator& non_negative();
const CLI::Validator& positive();
// --kv-type f32|f16|bf16 into `out` (parsed by the callback, so a bad value is a one-line error).
void add_kv_type_flag(CLI::App* cmd, KvType& out);
void add_step_tokens_flag(CLI::App* cmd, int64_t& out);  // --step-tokens -> LoadOptions::step_tokens
void apply_run_flags(const RunFlags& f);  // sets thread count and forced kernel
// The ranks of this job (MPI_COMM_WORLD under mpirun, else one process; main.cpp). Only
// quantize and ppl run on several ranks; output and files come from rank 0.
Comm& world();
inline bool is_root() { return world().rank() == 0; }
// This invocation as a shell line ("awqx quantize --model ..."), for model cards (main.cpp).
const std::string& command_line();
void add_kernels_command(CLI::App& app);  // awqx kernels (cmd_kernels.cpp)
void add_generate_command(CLI::App& app);  // awqx generate (cmd_generate.cpp)
void add_ppl_command(CLI::App& app);       // awqx ppl (cmd_ppl.cpp)
void add_convert_command(CLI::App& app);   // awqx convert (cmd_convert.cpp)
void add_inspect_command(CLI::App& app);  // awqx inspect DIR (cmd_inspect.cpp)
void add_quantize_command(CLI::App& app);  // awqx quantize (cmd_quantize.cpp)
void add_make_model_command(CLI::App& app);  // awqx make-model (cmd_make_model.cpp)
void add_bench_command(CLI::App& app);       // awqx bench (cmd_bench.cpp)
void add_bench_kernels_command(CLI::App& app);  // awqx bench-kernels (cmd_bench_kernels.cpp)
void add_devices_command(CLI::App& app);  // awqx devices (cmd_devices.cpp)
void add_serve_command(CLI::App& app);    // awqx serve (cmd_serve.cpp)
}  // namespace awqx::cli

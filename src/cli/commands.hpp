// One function per CLI verb; each lives in src/cli/cmd_<verb>.cpp.
#pragma once
#include <CLI/CLI.hpp>

namespace awqx::cli {
// Flags shared by every verb that runs a model: --threads, --backend.
struct RunFlags {
  int threads = 0;
  std::string backend;
};
void add_run_flags(CLI::App* cmd, RunFlags& f);
void apply_run_flags(const RunFlags& f);  // sets thread count and forced kernel

void add_generate_command(CLI::App& app);
void add_ppl_command(CLI::App& app);
void add_convert_command(CLI::App& app);
}  // namespace awqx::cli

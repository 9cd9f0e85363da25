// `awqx kernels`: this CPU's features, every registered int4 kernel with supported yes/no
// (reason) and priority, and what select() picks for m = 1 and m = 512 (k = n = 4096, g128, zp).
#include <cstdio>

#include <fmt/format.h>

#include "awqx/kernels.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {

void add_kernels_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("kernels", "list int4 kernels, CPU support and the default choice");
  static RunFlags run_flags;  // CLI11 keeps a reference: must outlive parsing
  RunFlags* flags = &run_flags;
  add_run_flags(cmd, *flags);
  cmd->callback([flags] {
    apply_run_flags(*flags);
    const CpuInfo& cpu = cpu_info();
    std::fputs(cpu.to_string().c_str(), stdout);
    kernels::Problem p{1, 4096, 4096, 128, true};
    std::printf("\nkernels (checked for m=1, k=n=4096, g128, zero point):\n");
    // "from m": the measured crossover below which automatic selection skips the entry (min_m).
    std::printf("  %-28s %-5s %-8s %-11s %8s %6s  %s\n", "name", "op", "format", "isa", "priority", "from m",
                "supported");
    for (const auto& e : kernels::registry().entries()) {
      const std::string why = kernels::why_unsupported(e, cpu, p);
      std::printf("  %-28s %-5s %-8s %-11s %8d %6s  %s\n", e.name, kernels::op_name(e.op), kernels::format_name(e.format),
                  isa_name(e.isa), e.priority, e.min_m > 0 ? std::to_string(e.min_m).c_str() : "-",
                  why.empty() ? "yes" : ("no (" + why + ")").c_str());
    }
    for (int64_t m : {int64_t{1}, int64_t{8}, int64_t{32}, int64_t{512}}) {
      p.m = m;
      const auto& e = kernels::select(p, cpu, flags->backend);
      std::printf("select(m=%lld, k=n=4096, g128, zp): %s\n", static_cast<long long>(m), e.name);
    }
  });
}

}  // namespace awqx::cli

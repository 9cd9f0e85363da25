// `awqx devices`: every registered compute device, whether it is available here, and the default.
#include <cstdio>

#include "awqx/device.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {

void add_devices_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "list compute devices (cpu; cuda in -DAWQX_CUDA=ON builds)");
  cmd->callback([] {
    std::printf("  %-6s %8s  %-9s  %s\n", "name", "priority", "available", "description");
    for (const auto& e : device::registry().entries())
      std::printf("  %-6s %8d  %-9s  %s\n", e.name, e.priority, e.available() ? "yes" : "no", e.describe().c_str());
    std::printf("default device: %s\n", device::select_device().name);
  });
}

}  // namespace awqx::cli

// Device registry (include/awqx/device.hpp). Built once in a function-local static; the cuda
// entry exists only in AWQX_HAVE_CUDA builds (cuda_device.cpp).
#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

#include "awqx/cpu.hpp"
#include "awqx/device.hpp"
#include "awqx/error.hpp"
#include "awqx/parallel.hpp"

namespace awqx::device {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool cpu_available() { return true; }

std::string cpu_describe() {
  const CpuInfo& c = cpu_info();
  return fmt::format("{}, {} physical cores, isa {}, L3 {} MiB", c.brand.empty() ? "unknown x86-64" : c.brand, c.cores,
                     isa_name(c.isa), c.l3_bytes >> 20);
}

}  // namespace

const DeviceEntry* DeviceRegistry::find(const std::string& name) const noexcept {
  for (const auto& e : entries_)
    if (lower(e.name) == lower(name)) return &e;
  return nullptr;
}

void register_cpu_device(DeviceRegistry& r) { r.add({"cpu", 0, cpu_available, cpu_describe}); }

const DeviceRegistry& registry() {
  static const DeviceRegistry reg = [] {
    DeviceRegistry r;
    register_cpu_device(r);
#ifdef AWQX_HAVE_CUDA
    register_cuda_device(r);
#endif
    return r;
  }();
  return reg;
}

const DeviceEntry& select_device(const std::string& force_arg) {
  std::string force = force_arg;
  if (force.empty())
    if (const char* env = std::getenv("AWQX_DEVICE")) force = env;
  const auto& reg = registry();
  if (!force.empty()) {
    const DeviceEntry* e = reg.find(force);
    if (!e) {
      std::string names;
      for (const auto& d : reg.entries()) names += std::string(names.empty() ? "" : ", ") + d.name;
      throw Error::mismatch(ErrorCode::invalid_argument, "", "device", "one of: " + names, "'" + force + "'");
    }
    if (!e->available())
      throw Error(ErrorCode::unsupported_hardware, "", "device", fmt::format("{}: {}", e->name, e->describe()));
    return *e;
  }
  const DeviceEntry* best = nullptr;
  for (const auto& e : reg.entries())
    if (e.available() && (!best || e.priority > best->priority)) best = &e;
  AWQX_CHECK(best != nullptr);  // cpu is always available
  return *best;
}

}  // namespace awqx::device

// Device registry, the same pattern as the kernel registry (kernels.hpp): each compute device is
// one plain-data entry {name, priority, available(), describe()}, registered explicitly.
// `cpu` is always there; `cuda` only in builds with -DAWQX_CUDA=ON and a CUDA compiler
// (AWQX_HAVE_CUDA), and it reports available() == false when no GPU/driver is present, so the
// same binary runs everywhere.
#pragma once
#include <string>
#include <vector>

namespace awqx::device {

struct DeviceEntry {
  const char* name;              // "cpu", "cuda"
  int priority;                  // higher wins in select_device() among available entries
  bool (*available)();           // usable here and now (never throws)
  std::string (*describe)();     // one line: model, cores / SMs, memory (never throws)
};

class DeviceRegistry {
 public:
  void add(const DeviceEntry& e) { entries_.push_back(e); }
  const std::vector<DeviceEntry>& entries() const noexcept { return entries_; }
  const DeviceEntry* find(const std::string& name) const noexcept;  // case-insensitive

 private:
  std::vector<DeviceEntry> entries_;
};

// The process-wide registry (built on first use; thread-safe).
const DeviceRegistry& registry();

// `force` (or env AWQX_DEVICE when empty) names a device: that one, Error{invalid_argument} if
// unknown, Error{unsupported_hardware} if not available. Otherwise the highest-priority available.
const DeviceEntry& select_device(const std::string& force = "");

void register_cpu_device(DeviceRegistry& r);
void register_cuda_device(DeviceRegistry& r);  // defined only with AWQX_HAVE_CUDA

}  // namespace awqx::device

// The `cuda` device entry: compiled into every build, but only registered (and only linked
// against cuda/gemv_q4g.cu) when CMake found a CUDA compiler with -DAWQX_CUDA=ON.
#ifdef AWQX_HAVE_CUDA
#include "awqx/cuda_gemv.hpp"
#include "awqx/device.hpp"

namespace awqx::device {
namespace {
bool cuda_available() { return cuda::device_available(); }
std::string cuda_describe() {
  try {
    return cuda::device_summary();
  } catch (...) {
    return "not available";
  }
}
}  // namespace

// Priority 10 > cpu's 0: where a GPU is present it is the default device for what it supports.
void register_cuda_device(DeviceRegistry& r) { r.add({"cuda", 10, cuda_available, cuda_describe}); }

}  // namespace awqx::device
#endif

#include "awqx/kernels.hpp"

namespace awqx::kernels {
void register_onednn_kernels(Registry&) {}
}  // namespace awqx::kernels

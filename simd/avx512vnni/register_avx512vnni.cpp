#include "awqx/kernels.hpp"

namespace awqx::kernels {
void register_avx512vnni_kernels(Registry&) {}
}  // namespace awqx::kernels

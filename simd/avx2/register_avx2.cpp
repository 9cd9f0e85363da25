// AVX2 kernels register here (see simd/avx2/*_avx2.cpp).
#include "awqx/kernels.hpp"

namespace awqx::kernels {
void register_avx2_kernels(Registry&) {}
}  // namespace awqx::kernels

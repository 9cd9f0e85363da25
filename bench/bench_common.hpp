// The benchmark programs use the library's bench helpers (src/bench/kernel_bench.hpp,
// include/awqx/roofline.hpp) so `awqx bench-kernels` and bench/ measure the same way.
#pragma once
#include "awqx/cpu.hpp"
#include "awqx/half.hpp"
#include "awqx/kernels.hpp"
#include "awqx/parallel.hpp"
#include "awqx/roofline.hpp"
#include "bench/kernel_bench.hpp"

namespace awqx_bench {
using awqx::cold_copies;
using awqx::bench::clone;
using awqx::bench::kLlamaShapes;
using awqx::bench::random_q4;
using awqx::bench::random_x;
using awqx::bench::Shape;
}  // namespace awqx_bench

// Building blocks shared by `awqx bench-kernels` (bench_kernels.cpp) and the Google Benchmark
// programs under bench/: Llama-2-7B layer shapes, deterministic random int4 weights and
// activations, and PackedQ4 cloning for cold-weight rotation (see awqx::cold_copies).
#pragma once
#include <cstdint>
#include <vector>

#include "awqx/kernels.hpp"
#include "awqx/linear.hpp"
#include "awqx/roofline.hpp"

namespace awqx::bench {

struct Shape {
  int64_t k, n;
  const char* label;
};
// Llama-2-7B linear layers: q/k/v/o, gate/up, down, lm_head.
inline constexpr Shape kLlamaShapes[] = {
    {4096, 4096, "4096x4096"}, {4096, 11008, "4096to11008"}, {11008, 4096, "11008to4096"}, {4096, 32000, "4096to32000"}};

// Deep copy of packed weights (its own buffer, so a rotation of clones really reads n copies).
kernels::PackedQ4 clone(const kernels::PackedQ4& p);

// Deterministic random int4 weights: random nibbles, scales in [0.001, 0.011) fp16-representable,
// zeros random 0..15 (or 8 without zero points).
Q4Weights random_q4(int64_t n, int64_t k, int group_size, bool zero_point);
// Deterministic N(0, 1) activations [m][k].
std::vector<float> random_x(int64_t m, int64_t k);

}  // namespace awqx::bench

// The benchmark programs use the library's bench helpers (src/bench/kernel_bench.hpp,
// include/awqx/roofline.hpp) so `awqx bench-kernels` and bench/ measure the same way.
#pragma once
#include <cstdlib>
#include <string>
#include <vector>

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

// Takes our --threads N / --threads=N out of argv (Google Benchmark rejects unknown flags), sets
// the thread count, and returns the remaining arguments for benchmark::Initialize.
inline std::vector<char*> take_threads_flag(int argc, char** argv) {
  int threads = 0;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a.rfind("--threads=", 0) == 0) threads = std::atoi(a.c_str() + 10);
    else rest.push_back(argv[i]);
  }
  awqx::set_num_threads(threads);
  return rest;
}
}  // namespace awqx_bench

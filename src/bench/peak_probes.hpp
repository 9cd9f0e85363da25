// Per-ISA inner loops of the peak-throughput probes (roofline.cpp). They live in simd/<isa>/
// because only those files are compiled with ISA flags. Each runs `iters` iterations of a loop of
// independent multiply-adds on one thread and returns the number of operations done (2 per lane
// MAC), so the caller times a parallel region and divides.
#pragma once
#include <cstdint>

namespace awqx::bench {
double fma_loop_avx2(int64_t iters);
double fma_loop_avx512(int64_t iters);
double vnni_loop_avx512(int64_t iters);
double amx_int8_loop(int64_t iters);  // simd/amx/peak_amx.cpp
double amx_bf16_loop(int64_t iters);
}  // namespace awqx::bench

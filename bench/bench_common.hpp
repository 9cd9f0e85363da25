// Shared pieces of the kernel benchmarks: cold-weight rotation sizing, PackedQ4 cloning,
// Llama-2-7B layer shapes, a streaming-read bandwidth probe and the oneDNN baselines.
#pragma once
#include <sys/sysinfo.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "awqx/cpu.hpp"
#include "awqx/half.hpp"
#include "awqx/kernels.hpp"
#include "awqx/parallel.hpp"
#include <omp.h>

namespace awqx_bench {

struct Shape {
  int64_t k, n;
  const char* label;
};
// Llama-2-7B linear layers: q/k/v/o, gate/up, down, lm_head.
inline const Shape kLlamaShapes[] = {
    {4096, 4096, "4096x4096"}, {4096, 11008, "4096to11008"}, {11008, 4096, "11008to4096"}, {4096, 32000, "4096to32000"}};

// How many copies of `bytes` to rotate through so each iteration reads cold data: at least
// 4× the L3 size read at run time, capped by half the free RAM.
inline size_t cold_copies(size_t bytes) {
  if (std::getenv("AWQX_BENCH_HOT")) return 1;  // analysis only: weights stay in cache
  const int64_t l3 = std::max<int64_t>(awqx::cpu_info().l3_bytes, 32 << 20);
  struct sysinfo si {};
  sysinfo(&si);
  const double free_bytes = double(si.freeram) * si.mem_unit;
  size_t want = static_cast<size_t>((4.0 * double(l3)) / double(bytes)) + 2;
  const size_t cap = static_cast<size_t>(std::max(1.0, 0.5 * free_bytes / double(bytes)));
  return std::max<size_t>(1, std::min(want, cap));
}

inline awqx::kernels::PackedQ4 clone(const awqx::kernels::PackedQ4& p) {
  awqx::kernels::PackedQ4 c;
  c.hdr = p.hdr;
  c.data_bytes = p.data_bytes;
  c.q_off = p.q_off, c.s_off = p.s_off, c.z_off = p.z_off;
  if (p.data) {
    const size_t total = p.z_off + static_cast<size_t>(p.hdr.n_pad * p.hdr.groups());
    c.data = awqx::kernels::aligned_alloc_bytes(total);
    std::memcpy(c.data.get(), p.data.get(), total);
  }
  c.natural = p.natural;
  c.bias = p.bias;
  c.aux = p.aux;
  return c;
}

inline awqx::Q4Weights random_q4(int64_t n, int64_t k, int g, bool zp) {
  awqx::Q4Weights w = awqx::Q4Weights::empty(n, k, g, zp);
  std::mt19937 rng(1);
  for (auto& b : w.qdata) b = static_cast<uint8_t>(rng());
  for (size_t i = 0; i < w.scales.size(); ++i) {
    w.scales[i] = awqx::round_to_f16(0.001f + 0.01f * float(rng() % 1000) / 1000.f);
    w.zeros[i] = zp ? static_cast<uint8_t>(rng() % 16) : 8;
  }
  return w;
}

inline std::vector<float> random_x(int64_t m, int64_t k) {
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (auto& v : x) v = nd(rng);
  return x;
}

// Streaming read of a buffer >= 4× L3 with all threads: the machine's read bandwidth
// (bytes/s, best of 6). Each thread sums a contiguous slice with 8 independent accumulators
// (vectorized by the compiler) so the loop is limited by memory, not by adds.
inline double measure_read_bandwidth() {
  const size_t bytes = std::min<size_t>(cold_copies(1), size_t(2) << 30) / 64 * 64;
  std::vector<uint64_t> buf(bytes / 8, 1);
  const int nt = awqx::num_threads();
  double best = 0;
  for (int rep = 0; rep < 6; ++rep) {
    uint64_t total = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(nt) reduction(+ : total)
    {
      const size_t per = buf.size() / 8 / static_cast<size_t>(omp_get_num_threads()) * 8;
      const uint64_t* p = buf.data() + per * static_cast<size_t>(omp_get_thread_num());
      uint64_t a[8] = {};
      for (size_t i = 0; i < per; i += 8)
        for (int j = 0; j < 8; ++j) a[j] += p[i + j];
      for (int j = 0; j < 8; ++j) total += a[j];
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (total == 42) std::abort();
    best = std::max(best, double(buf.size() / 8 / static_cast<size_t>(nt) * 8 * nt * 8) / s);
  }
  return best;
}

}  // namespace awqx_bench

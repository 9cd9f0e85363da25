#include "bench/kernel_bench.hpp"

#include <cstring>
#include <random>

#include "awqx/half.hpp"

namespace awqx::bench {

kernels::PackedQ4 clone(const kernels::PackedQ4& p) {
  kernels::PackedQ4 c;
  c.hdr = p.hdr;
  c.data_bytes = p.data_bytes;
  c.q_off = p.q_off, c.s_off = p.s_off, c.z_off = p.z_off;
  if (p.data) {
    const size_t total = p.z_off + static_cast<size_t>(p.hdr.n_pad * p.hdr.groups());
    c.data = kernels::aligned_alloc_bytes(total);
    std::memcpy(c.data.get(), p.data.get(), total);
  }
  c.natural = p.natural;
  c.bias = p.bias;
  c.aux = p.aux;  // kernel-private caches (oneDNN primitives) are shape-only: shared is fine
  return c;
}

Q4Weights random_q4(int64_t n, int64_t k, int group_size, bool zero_point) {
  Q4Weights w = Q4Weights::empty(n, k, group_size, zero_point);
  std::mt19937 rng(1);
  for (auto& b : w.qdata) b = static_cast<uint8_t>(rng());
  for (size_t i = 0; i < w.scales.size(); ++i) {
    w.scales[i] = round_to_f16(0.001f + 0.01f * float(rng() % 1000) / 1000.f);
    w.zeros[i] = zero_point ? static_cast<uint8_t>(rng() % 16) : 8;
  }
  return w;
}

std::vector<float> random_x(int64_t m, int64_t k) {
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (auto& v : x) v = nd(rng);
  return x;
}

}  // namespace awqx::bench

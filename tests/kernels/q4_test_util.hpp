// Random / adversarial int4 weights and the double-precision oracle shared by the kernel tests.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "awqx/half.hpp"
#include "awqx/linear.hpp"

namespace awqx_test {

enum class Fill { random, zero_groups, max_scale, q_all0, q_all15 };

inline const char* fill_name(Fill f) {
  switch (f) {
    case Fill::random: return "random";
    case Fill::zero_groups: return "zero_groups";
    case Fill::max_scale: return "max_scale";
    case Fill::q_all0: return "q_all0";
    case Fill::q_all15: return "q_all15";
  }
  return "?";
}

// Scales are fp16-representable (what the on-disk format gives kernels).
inline awqx::Q4Weights make_q4(int64_t n, int64_t k, int g, bool zp, Fill fill, uint32_t seed, bool bias) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> q16(0, 15);
  std::uniform_real_distribution<float> su(0.001f, 0.05f);
  awqx::Q4Weights w = awqx::Q4Weights::empty(n, k, g, zp);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      int v = q16(rng);
      if (fill == Fill::q_all0) v = 0;
      if (fill == Fill::q_all15) v = 15;
      w.set_q(r, c, static_cast<uint8_t>(v));
    }
  for (size_t i = 0; i < w.scales.size(); ++i) {
    float s = awqx::round_to_f16(su(rng));
    if (fill == Fill::max_scale) s = (i % 2) ? 65504.0f : 6.1035156e-05f;  // fp16 max / min normal
    if (fill == Fill::zero_groups && i % 3 == 0) s = 0.0f;                // a whole group dequantizes to 0
    w.scales[i] = s;
    w.zeros[i] = zp ? static_cast<uint8_t>(q16(rng)) : 8;
  }
  if (fill == Fill::zero_groups && zp)  // q == z everywhere in every 3rd row's groups: zero again
    for (int64_t r = 0; r < n; r += 3)
      for (int64_t c = 0; c < k; ++c) w.set_q(r, c, w.zeros[static_cast<size_t>(r * w.groups() + c / g)]);
  if (bias) {
    std::normal_distribution<float> nd(0.f, 1.f);
    w.bias.resize(static_cast<size_t>(n));
    for (auto& b : w.bias) b = nd(rng);
  }
  return w;
}

inline std::vector<float> make_x(int64_t m, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (auto& v : x) v = nd(rng);
  // A few outliers, as in real activations (they stress per-block int8 quantization).
  for (size_t i = 0; i < x.size(); i += 97) x[i] *= 20.f;
  return x;
}

// y = x·dequant(W)ᵀ + bias in double, from Q4Weights::dequant directly.
inline std::vector<double> oracle(const awqx::Q4Weights& w, const std::vector<float>& x, int64_t m) {
  std::vector<double> y(static_cast<size_t>(m * w.n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < w.n; ++r) {
      double acc = w.bias.empty() ? 0.0 : w.bias[static_cast<size_t>(r)];
      for (int64_t c = 0; c < w.k; ++c) acc += double(x[static_cast<size_t>(i * w.k + c)]) * w.dequant(r, c);
      y[static_cast<size_t>(i * w.n + r)] = acc;
    }
  return y;
}

}  // namespace awqx_test

// ops vs straightforward double-precision formulas. Tolerances: fp32 ops over d <= 256 terms
// accumulate relative error ~ d * 2^-24 ≈ 1.5e-5; 1e-4 leaves margin for exp/sin/cos ulp error.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "awqx/parallel.hpp"
#include "awqx/cpu.hpp"
#include "model/ops.hpp"
#include "model/ops_simd.hpp"

using namespace awqx;

namespace {
std::vector<float> randv(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
}  // namespace

TEST(Ops, RmsNormMatchesFormula) {
  const int64_t m = 5, d = 96;
  auto x = randv(m * d, 1), w = randv(d, 2);
  std::vector<float> y(m * d);
  ops::rmsnorm(x.data(), w.data(), y.data(), m, d, 1e-5f);
  for (int64_t r = 0; r < m; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += double(x[r * d + i]) * x[r * d + i];
    const double inv = 1.0 / std::sqrt(ss / d + 1e-5);
    for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(y[r * d + i], x[r * d + i] * inv * w[i], 1e-4) << r << "," << i;
  }
}

TEST(Ops, RopeRotatesPairsByPositionAngle) {
  const int hd = 16, heads = 3;
  RopeScaling none;
  ops::RopeTable rope(hd, 10000.f, none, 64);
  auto x = randv(2 * heads * hd, 3), orig = x;
  ops::rope_inplace(x.data(), 2, heads * hd, heads, 7, rope);
  for (int r = 0; r < 2; ++r)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const double ang = (7 + r) / std::pow(10000.0, 2.0 * i / hd);
        const float* o = orig.data() + r * heads * hd + h * hd;
        const float* n = x.data() + r * heads * hd + h * hd;
        EXPECT_NEAR(n[i], o[i] * std::cos(ang) - o[i + hd / 2] * std::sin(ang), 1e-4);
        EXPECT_NEAR(n[i + hd / 2], o[i + hd / 2] * std::cos(ang) + o[i] * std::sin(ang), 1e-4);
      }
}

// Causal GQA attention vs a double-precision loop; also 1 vs 2 threads bit-identical.
TEST(Ops, AttentionCausalGqa) {
  const int heads = 4, kv_heads = 2, hd = 8;
  const int64_t n_past = 3, m = 4, total = n_past + m;
  const int64_t kv_stride = kv_heads * hd, q_stride = heads * hd;
  auto q = randv(m * q_stride, 4), k = randv(total * kv_stride, 5), v = randv(total * kv_stride, 6);
  std::vector<float> out(m * q_stride), out1(m * q_stride);
  set_num_threads(2);
  ops::attention(q.data(), m, q_stride, k.data(), v.data(), kv_stride, n_past, heads, kv_heads, hd, out.data(),
                 q_stride);
  set_num_threads(1);
  ops::attention(q.data(), m, q_stride, k.data(), v.data(), kv_stride, n_past, heads, kv_heads, hd, out1.data(),
                 q_stride);
  set_num_threads(0);
  EXPECT_EQ(out, out1);
  for (int64_t i = 0; i < m; ++i)
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / (heads / kv_heads);
      std::vector<double> s(n_past + i + 1);
      double mx = -1e300, sum = 0;
      for (int64_t p = 0; p <= n_past + i; ++p) {
        double dot = 0;
        for (int d = 0; d < hd; ++d) dot += double(q[i * q_stride + h * hd + d]) * k[p * kv_stride + kvh * hd + d];
        s[p] = dot / std::sqrt(double(hd));
        mx = std::max(mx, s[p]);
      }
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int d = 0; d < hd; ++d) {
        double acc = 0;
        for (int64_t p = 0; p <= n_past + i; ++p) acc += s[p] / sum * v[p * kv_stride + kvh * hd + d];
        EXPECT_NEAR(out[i * q_stride + h * hd + d], acc, 1e-4);
      }
    }
}

TEST(Ops, MatmulAndLogProb) {
  const int64_t m = 3, n = 5, k = 7;
  auto x = randv(m * k, 7), w = randv(n * k, 8);
  std::vector<float> y(m * n);
  ops::matmul_f32(x.data(), w.data(), y.data(), m, n, k);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t t = 0; t < k; ++t) acc += double(x[i * k + t]) * w[j * k + t];
      EXPECT_NEAR(y[i * n + j], acc, 1e-4);
    }
  const float logits[3] = {1.f, 2.f, 3.f};
  const double z = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(ops::log_prob(logits, 3, 1), 2.0 - z, 1e-6);
}

// The AVX-512 row kernels vs the portable oracle (ops_simd.hpp). attend_row: every supported
// head_dim, key counts with and without a 16-wide tail, a head-major cache with padding between
// heads (pos_stride = head_dim, as the model uses) and large logits (softmax dominated by one
// key). Tolerance: both sum ≤ 256 fp32 products per score (relative error ~ 256·2^-24 ≈ 1.5e-5
// of Σ|q·k|) and a convex combination of V; 2e-5·(1 + |out|) bounds both with margin, and a wrong
// key, stride or tail would be off by O(1).
TEST(OpsSimd, AttendRowMatchesPortable) {
  if (!cpu_info().has(Isa::avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (int hd : {64, 80, 96, 128, 256})
    for (int64_t n_keys : {1, 7, 16, 33, 300})
      for (float qscale : {1.f, 8.f}) {
        const int64_t ps = hd;
        auto q = randv(hd, 11, qscale), k = randv(n_keys * ps, 12), v = randv(n_keys * ps, 13);
        std::vector<float> s1(n_keys), s2(n_keys), o1(hd), o2(hd);
        const float scale = 1.f / std::sqrt(float(hd));
        ops::attend_row_portable(q.data(), k.data(), v.data(), ps, n_keys, hd, scale, s1.data(), o1.data());
        ops::attend_row_avx512(q.data(), k.data(), v.data(), ps, n_keys, hd, scale, s2.data(), o2.data());
        for (int d = 0; d < hd; ++d)
          ASSERT_NEAR(o2[d], o1[d], 2e-5 * (1 + std::fabs(o1[d]))) << "hd " << hd << " keys " << n_keys << " d " << d;
      }
}

// silu_mul uses a vector exp: vs the portable std::exp formula over [-100, 10] (and a tail of
// n % 16 != 0). 4 ulp relative, 1e-30 absolute (silu(-100) is -0 or -4e-37 depending on where
// exp saturates; both are zero for the model) (the polynomial's truncation is < 1e-8; the FMA chain and the
// division round a few times).
TEST(OpsSimd, SiluMulMatchesPortable) {
  if (!cpu_info().has(Isa::avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  const int64_t n = 11003;
  std::vector<float> g(n), u(n, 1.f), a(n), b(n);
  for (int64_t i = 0; i < n; ++i) g[i] = -100.f + 110.f * float(i) / float(n - 1);
  ops::silu_mul_portable(g.data(), u.data(), a.data(), n);
  ops::silu_mul_avx512(g.data(), u.data(), b.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(b[i], a[i], 4 * 6e-8 * std::fabs(a[i]) + 1e-30) << "g = " << g[i];
}

// The model's dispatch picks the AVX-512 set here, and AWQX_OPS=portable is honoured by name.
TEST(OpsSimd, DispatchNamesAnIsa) {
  const std::string isa = ops::row_kernels().isa;
  EXPECT_EQ(isa, cpu_info().has(Isa::avx512) ? "avx512" : "portable");
}

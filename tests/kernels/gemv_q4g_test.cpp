// Every registered int4 kernel that this CPU supports vs a double-precision oracle
// (Q4Weights::dequant + double accumulation, tests/kernels/q4_test_util.hpp), over shapes
// derived from the 16-row tile and 8-k block of q4r16x8: n = 1, 3, 17, 100 (tails), k = g and 3g
// (non-power-of-two), every group size and per-channel, zero point on/off, bias on/off,
// adversarial fills. Unsupported entries are skipped (GTEST_SKIP with the registry's reason).
//
// Tolerances (u = 2^-24, unit roundoff of fp32; A = Σ_c |x_c|·(q_c + z)·s, the magnitude of the
// terms a kernel actually adds when it evaluates s·(Σx·q − z·Σx); A ≥ Σ|x·w|):
//  * fp32 paths (avx2/avx512, gemv and gemm): every output is a sum of at most k + groups
//    rounded terms, so |err| ≤ (k + groups)·u·A (classical γ_n bound); we allow 2× that + 8 ulp.
//  * ref: double accumulation then one rounding to fp32: ≤ u·|y| (+ double's negligible error).
//  * avx512vnni: X is quantized per block (block ⊆ group) as xq = round(x/sx), sx = amax/127,
//    so |x − sx·xq| ≤ sx/2; the integer dot is exact, so the extra error is
//    ≤ Σ_groups (amax_g/254)·Σ_{c∈g}|q_c − z|·s  (amax over the whole group bounds every block's),
//    plus the fp32 bound above for the scale/zero arithmetic.
//  * onednn: weights and X rounded to bf16 (relative 2^-9 each) then fp32 accumulation:
//    ≤ (2^-8 + 2·(k + groups)·u)·A.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "awqx/kernels.hpp"
#include "awqx/parallel.hpp"
#include "kernels/q4_test_util.hpp"

namespace {

using awqx::kernels::KernelEntry;
using awqx::kernels::Problem;
using awqx_test::Fill;

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

std::vector<std::string> kernel_names() {
  std::vector<std::string> v;
  for (const auto& e : awqx::kernels::registry().entries()) v.push_back(e.name);
  return v;
}

struct Bounds {
  std::vector<double> a, vnni;  // per output
};

Bounds bounds(const awqx::Q4Weights& w, const std::vector<float>& x, int64_t m) {
  Bounds b;
  b.a.resize(static_cast<size_t>(m * w.n));
  b.vnni.resize(b.a.size());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < w.n; ++r) {
      double a = 0, v = 0;
      for (int64_t g = 0; g < w.groups(); ++g) {
        const size_t gi = static_cast<size_t>(r * w.groups() + g);
        const double s = std::fabs(w.scales[gi]), z = w.zeros[gi];
        double amax = 0, wsum = 0;
        for (int64_t c = g * w.group_size; c < (g + 1) * w.group_size; ++c) {
          const double xv = std::fabs(x[static_cast<size_t>(i * w.k + c)]);
          amax = std::max(amax, xv);
          a += xv * (w.q(r, c) + z) * s;
          wsum += std::fabs(w.q(r, c) - z) * s;
        }
        v += amax / 254.0 * wsum;
      }
      b.a[static_cast<size_t>(i * w.n + r)] = a;
      b.vnni[static_cast<size_t>(i * w.n + r)] = v;
    }
  return b;
}

double tolerance(const KernelEntry& e, const awqx::Q4Weights& w, double yref, double a, double vnni) {
  const std::string fam = e.family;
  const double fp32 = 2.0 * double(w.k + w.groups()) * kU * a + 8 * kU * std::fabs(yref);
  if (fam == "ref") return kU * std::fabs(yref) + 1e-300;
  if (fam == "avx512vnni" || fam == "amx") return 1.01 * vnni + fp32;
  if (fam == "onednn" || fam == "amx-bf16") return (1.0 / 256.0) * a + fp32;
  return fp32;
}

struct Case {
  int64_t n, k;
  int g;
  bool zp;
  Fill fill;
  bool bias;
  std::vector<int64_t> ms;
};

std::vector<Case> cases() {
  std::vector<Case> cs;
  for (int g : {32, 64, 128, 256})
    for (int64_t kmul : {1, 3})
      for (int64_t n : {1, 17, 100})
        for (bool zp : {true, false}) cs.push_back({n, g * kmul, g, zp, Fill::random, n == 17, {1, 3, 33}});
  cs.push_back({100, 384, 128, true, Fill::random, true, {1, 2, 3, 7, 16, 33, 128}});
  cs.push_back({3, 96, 32, false, Fill::random, false, {1, 2, 3, 7, 16, 33, 128}});
  for (int64_t k : {40, 48, 200, 1000})  // per-channel: g = k (48: 16-element activation blocks)
    for (bool zp : {true, false}) cs.push_back({33, k, static_cast<int>(k), zp, Fill::random, zp, {1, 7}});
  for (Fill f : {Fill::zero_groups, Fill::max_scale, Fill::q_all0, Fill::q_all15})
    for (bool zp : {true, false}) cs.push_back({20, 256, 64, zp, f, true, {1, 16}});
  cs.push_back({512, 4096, 128, true, Fill::random, false, {1, 4}});  // a real row length
  // More rows than one M chunk of the AMX kernels (256 rows at k = 4096), g64, odd n.
  cs.push_back({33, 4096, 64, true, Fill::random, true, {300}});
  return cs;
}

class Q4KernelTest : public ::testing::TestWithParam<std::string> {
 protected:
  const KernelEntry& entry() const { return *awqx::kernels::registry().find(GetParam()); }
  // Returns the reason if the kernel cannot run the problem here ("" = runs).
  std::string why(const awqx::Q4Weights& w, int64_t m) const {
    return awqx::kernels::why_unsupported(entry(), awqx::cpu_info(), Problem{m, w.n, w.k, w.group_size, w.zero_point});
  }
};

// Weights, activations, oracle and bounds per case, built once and shared by every kernel.
struct CaseData {
  Case c;
  uint32_t seed;
  awqx::Q4Weights w;
  std::vector<float> x;
  std::vector<double> yref;
  Bounds b;
};

const std::vector<CaseData>& case_data() {
  static const std::vector<CaseData> data = [] {
    std::vector<CaseData> v;
    uint32_t seed = 1234;
    for (const Case& c : cases()) {
      ++seed;
      CaseData d{c, seed, awqx_test::make_q4(c.n, c.k, c.g, c.zp, c.fill, seed, c.bias), {}, {}, {}};
      d.x = awqx_test::make_x(c.ms.back(), c.k, seed * 7);
      d.yref = awqx_test::oracle(d.w, d.x, c.ms.back());
      d.b = bounds(d.w, d.x, c.ms.back());
      v.push_back(std::move(d));
    }
    return v;
  }();
  return data;
}

TEST_P(Q4KernelTest, MatchesOracle) {
  const KernelEntry& e = entry();
  const std::string skip = why(awqx::Q4Weights::empty(16, 256, 128, true), 1);
  if (!skip.empty()) GTEST_SKIP() << e.name << ": " << skip;
  int checked = 0;
  for (const CaseData& d : case_data()) {
    const Case& c = d.c;
    const awqx::Q4Weights& w = d.w;
    if (!why(w, 1).empty()) continue;
    const auto packed = e.pack(w);
    awqx::kernels::check_packed(e, packed);
    for (int64_t m : c.ms) {
      std::vector<float> y(static_cast<size_t>(m * c.n), std::nanf(""));
      e.run(packed, d.x.data(), m, y.data());
      int bad = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        const double tol = tolerance(e, w, d.yref[i], d.b.a[i], d.b.vnni[i]);
        if (!(std::fabs(y[i] - d.yref[i]) <= tol) && bad++ < 3)
          ADD_FAILURE() << fmt::format("{}: m={} n={} k={} g={} zp={} fill={} bias={} seed={}: y[{}][{}] = {} "
                                       "expected {} (tol {:.3g})",
                                       e.name, m, c.n, c.k, c.g, c.zp, awqx_test::fill_name(c.fill), c.bias, d.seed,
                                       int64_t(i) / c.n, int64_t(i) % c.n, y[i], d.yref[i], tol);
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

TEST_P(Q4KernelTest, ThreadCountDoesNotChangeBits) {
  const KernelEntry& e = entry();
  const awqx::Q4Weights w = awqx_test::make_q4(100, 512, 128, true, Fill::random, 77, true);
  if (const std::string s = why(w, 1); !s.empty()) GTEST_SKIP() << s;
  const auto packed = e.pack(w);
  for (int64_t m : {1, 33}) {
    const std::vector<float> x = awqx_test::make_x(m, w.k, 5);
    std::vector<float> y1(static_cast<size_t>(m * w.n)), y2(y1.size());
    awqx::set_num_threads(1);
    e.run(packed, x.data(), m, y1.data());
    awqx::set_num_threads(2);
    e.run(packed, x.data(), m, y2.data());
    awqx::set_num_threads(0);
    EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float))) << e.name << " m=" << m;
  }
}

TEST_P(Q4KernelTest, ZeroActivationsGiveBias) {
  const KernelEntry& e = entry();
  const awqx::Q4Weights w = awqx_test::make_q4(37, 256, 64, true, Fill::random, 9, true);
  if (const std::string s = why(w, 1); !s.empty()) GTEST_SKIP() << s;
  const auto packed = e.pack(w);
  for (int64_t m : {1, 5}) {
    const std::vector<float> x(static_cast<size_t>(m * w.k), 0.0f);
    std::vector<float> y(static_cast<size_t>(m * w.n), std::nanf(""));
    e.run(packed, x.data(), m, y.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], w.bias[i % w.n]) << e.name << " m=" << m << " i=" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, Q4KernelTest, ::testing::ValuesIn(kernel_names()),
                         [](const auto& info) { return info.param; });

}  // namespace

namespace {

// Measures (and bounds) the extra error of int8 activation quantization on realistic data:
// Llama-like row length k = 4096, g128, normal activations with 20× outliers every 97th value.
// Reported: normalized RMS error ‖y − y_oracle‖ / ‖y_oracle‖ of the VNNI kernel next to the
// fp32 kernels'. Measured on the outlier data: VNNI (int8 per 32-block) ~1.2e-2, AMX int8 (per
// 128-group: its scales are applied per group, finer blocks would multiply its epilogue work)
// ~2.6e-2; the bounds 2e-2 / 4e-2 leave margin. The derived per-element bound (which holds for
// both) is checked in MatchesOracle; the end-to-end cost is measured as perplexity (README).
TEST(Q4KernelError, VnniVsFp32Reported) {
  const awqx::Q4Weights w = awqx_test::make_q4(256, 4096, 128, true, Fill::random, 3, false);
  std::vector<float> plain(static_cast<size_t>(4 * w.k));
  std::mt19937 rng(8);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& v : plain) v = nd(rng);
  int measured = 0;
  for (int data = 0; data < 2; ++data) {
    const auto x = data == 0 ? plain : awqx_test::make_x(4, w.k, 4);
    const auto yref = awqx_test::oracle(w, x, 4);
    for (const auto& e : awqx::kernels::registry().entries()) {
      if (!awqx::kernels::why_unsupported(e, awqx::cpu_info(), Problem{4, w.n, w.k, 128, true}).empty()) continue;
      const auto packed = e.pack(w);
      for (int64_t m : {1, 4}) {
        std::vector<float> y(static_cast<size_t>(m * w.n));
        e.run(packed, x.data(), m, y.data());
        double err2 = 0, r2 = 0;
        for (size_t i = 0; i < y.size(); ++i) err2 += (y[i] - yref[i]) * (y[i] - yref[i]), r2 += yref[i] * yref[i];
        const double nrms = std::sqrt(err2 / r2);
        std::printf("  %-30s %-9s m=%lld normalized RMS error vs double oracle: %.3g\n", e.name,
                    data == 0 ? "normal" : "outliers", static_cast<long long>(m), nrms);
        const std::string fam = e.family;
        const bool int8 = fam == "avx512vnni" || fam == "amx", bf16 = fam == "onednn" || fam == "amx-bf16";
        EXPECT_LT(nrms, fam == "amx" ? 4e-2 : int8 ? 2e-2 : bf16 ? 1e-2 : 1e-5) << e.name;
        ++measured;
      }
    }
  }
  EXPECT_GT(measured, 0);
}

}  // namespace

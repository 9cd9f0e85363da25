// Issue 12: the AWQ search's matmuls in bf16 (AMX / AVX512-BF16) instead of fp32.
//  * search_matmul(bf16) vs fp32 within the rounding bound: both operands rounded to bf16
//    (relative 2^-9 each), fp32 accumulation: |Δy| ≤ (2·2^-9 + 2^-17 + k·2^-24)·Σ|x·w|, doubled.
//  * The search on a real model picks (nearly) the same scales either way and its losses agree.
//  * Option checks: unknown value, bf16 with --autoawq-compat.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "awqx/cpu.hpp"
#include "awqx/error.hpp"
#include "awqx/half.hpp"
#include "awqx/quantize.hpp"
#include "quant/awq.hpp"
#include "test_util.hpp"

namespace {

std::string why_no_bf16() {
  const awqx::CpuInfo& c = awqx::cpu_info();
  if ((c.avx512bf16 && c.has(awqx::Isa::avx512)) || c.amx_bf16) return "";
  return "this CPU has neither AVX512-BF16 nor AMX-BF16 (the bf16 search needs one of them)";
}

TEST(SearchMatmul, Bf16WithinRoundingBound) {
  if (const std::string why = why_no_bf16(); !why.empty()) GTEST_SKIP() << why;
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 7, 32}, {37, 129, 256}, {300, 64, 1000}}) {
    std::mt19937 rng(static_cast<uint32_t>(m * 131 + n));
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(m * k)), w(static_cast<size_t>(n * k));
    for (auto& v : x) v = nd(rng);
    for (auto& v : w) v = 0.05f * nd(rng);
    std::vector<float> y32(static_cast<size_t>(m * n)), y16(y32.size());
    awqx::quant::search_matmul(x.data(), w.data(), y32.data(), m, n, k, awqx::quant::MatPrecision::fp32);
    awqx::quant::search_matmul(x.data(), w.data(), y16.data(), m, n, k, awqx::quant::MatPrecision::bf16);
    double worst = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double a = 0;
        for (int64_t c = 0; c < k; ++c) a += std::fabs(double(x[i * k + c]) * w[j * k + c]);
        const double bound = 2 * (2.0 / 512 + 1.0 / 131072 + double(k) / 16777216) * a;
        const double d = std::fabs(double(y16[i * n + j]) - y32[i * n + j]);
        ASSERT_LE(d, bound) << "m=" << m << " n=" << n << " k=" << k << " at " << i << "," << j;
        worst = std::max(worst, d / a);
      }
    EXPECT_GT(worst, 0) << "bf16 gave fp32's exact results: the bf16 path did not run";
  }
}

// round_bf16 (the search's vectorized rounding) equals the scalar f32_to_bf16 on every class of
// value: ties to even both ways, values that round up into the next binade or to inf, denormals,
// ±0, ±inf and NaNs (which stay NaN), plus random bit patterns.
TEST(SearchMatmul, RoundBf16EqualsScalar) {
  std::vector<uint32_t> bits = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u,
                                0xffbfffffu, 0x00000001u, 0x807fffffu, 0x3f808000u, 0x3f818000u, 0x3f80ffffu,
                                0x7f7fffffu, 0x7f7f8000u, 0x3f7fffffu, 0xbf808001u};
  std::mt19937 rng(5);
  for (int i = 0; i < 100000; ++i) bits.push_back(static_cast<uint32_t>(rng()));
  std::vector<float> f(bits.size());
  std::memcpy(f.data(), bits.data(), bits.size() * 4);
  std::vector<uint16_t> got(f.size());
  awqx::quant::round_bf16(f.data(), static_cast<int64_t>(f.size()), got.data());
  for (size_t i = 0; i < f.size(); ++i) ASSERT_EQ(got[i], awqx::f32_to_bf16(f[i])) << std::hex << bits[i];
}

// The search's one-pass candidate Q(W·s)/s is bitwise the four-pass reference (copy, scale the
// columns, pseudo_quantize, unscale), in fp32 and in bf16, for every group size, with and without
// zero points and scales.
TEST(SearchMatmul, FakeQuantizeScaledEqualsFourPasses) {
  const int64_t n = 37, k = 256;
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> w(static_cast<size_t>(n * k)), s(static_cast<size_t>(k));
  for (auto& v : w) v = 0.02f * nd(rng);
  for (auto& v : s) v = std::exp(nd(rng));
  for (int g : {32, 64, 128, -1})
    for (bool zp : {true, false})
      for (const float* sc : {static_cast<const float*>(nullptr), static_cast<const float*>(s.data())}) {
        awqx::quant::QParams q;
        q.group_size = g;
        q.zero_point = zp;
        std::vector<float> ref = w;
        for (int64_t r = 0; r < n; ++r)
          for (int64_t c = 0; c < k; ++c)
            if (sc) ref[r * k + c] = ref[r * k + c] * sc[c];
        awqx::quant::pseudo_quantize(ref.data(), n, k, q);
        for (int64_t r = 0; r < n; ++r)
          for (int64_t c = 0; c < k; ++c)
            if (sc) ref[r * k + c] = ref[r * k + c] / sc[c];
        std::vector<float> f32(w.size());
        std::vector<uint16_t> b16(w.size());
        awqx::quant::fake_quantize_scaled(w.data(), n, k, sc, q, f32.data(), b16.data());
        for (size_t i = 0; i < w.size(); ++i) {
          ASSERT_EQ(f32[i], ref[i]) << "g " << g << " zp " << zp << " scaled " << (sc != nullptr) << " at " << i;
          ASSERT_EQ(b16[i], awqx::f32_to_bf16(ref[i])) << "g " << g << " at " << i;
        }
        EXPECT_NE(f32, w) << "nothing was quantized";
      }
}

awqx::QuantizeOptions small(const std::string& precision) {
  awqx::QuantizeOptions o;
  o.calib_files = {awqx_test::shared_path("data/wikitext2-valid.txt")};
  // Wikitext lines are short: a few blocks of 64 tokens (one under ASan+UBSan, which is ~5x slower).
  o.max_calib_samples = std::getenv("AWQX_SANITIZER_BUILD") ? 12 : 24;
  o.max_calib_seq_len = 64;
  o.search_precision = precision;
  return o;
}

// Same model, same calibration: the fp32 and bf16 searches choose the same grid point in most
// groups (a flat loss curve may tip a few), and every chosen block loss agrees within 5%.
TEST(SearchPrecision, Bf16SearchAgreesWithFp32) {
  if (const std::string why = why_no_bf16(); !why.empty()) GTEST_SKIP() << why;
  awqx_test::TempDir tmp;
  const std::string model = awqx_test::shared_path("models/tiny-llama-7m-outliers");
  awqx::QuantizeOptions fp32 = small("fp32"), bf16 = small("bf16");
  fp32.apply_clip = bf16.apply_clip = false;  // the scale choice is what is compared (and time)
  const awqx::QuantizeReport a = awqx::quantize_model(model, tmp / "fp32", fp32);
  const awqx::QuantizeReport b = awqx::quantize_model(model, tmp / "bf16", bf16);
  ASSERT_EQ(a.layer_groups.size(), b.layer_groups.size());
  int same = 0, groups = 0;
  for (size_t l = 0; l < a.layer_groups.size(); ++l)
    for (size_t g = 0; g < a.layer_groups[l].size(); ++g) {
      const auto &ga = a.layer_groups[l][g], &gb = b.layer_groups[l][g];
      if (ga.choice == "skipped") continue;
      ++groups;
      same += ga.choice == gb.choice;
      EXPECT_NEAR(gb.fit, ga.fit, 0.05 * ga.fit) << "layer " << l << " " << ga.group;
      EXPECT_NEAR(gb.rtn_fit, ga.rtn_fit, 0.05 * ga.rtn_fit) << "layer " << l << " " << ga.group;
    }
  ASSERT_GT(groups, 0);
  EXPECT_GE(same * 4, groups * 3) << same << " of " << groups << " groups chose the same scale";
}

TEST(SearchPrecision, BadValuesNamed) {
  awqx_test::TempDir tmp;
  const std::string model = awqx_test::shared_path("models/tiny-llama-7m");
  auto expect_flag = [&](awqx::QuantizeOptions o) {
    try {
      awqx::quantize_model(model, tmp / "out", o);
      ADD_FAILURE() << "accepted search_precision=" << o.search_precision;
    } catch (const awqx::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--search-precision"), std::string::npos) << e.what();
    }
  };
  expect_flag(small("fp16"));
  awqx::QuantizeOptions compat = small("bf16");
  compat.autoawq_compat = true;
  expect_flag(compat);
}

}  // namespace

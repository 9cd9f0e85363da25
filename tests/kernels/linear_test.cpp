// Q4Weights helpers, make_q4_linear / make_fp_linear vs naive double loops, registry selection
// and the AWQX_ISA cap. Tolerance for FP GEMV (fp32 accumulation of k products of exactly
// representable widened weights): |err| ≤ k·u·Σ|x·w| (γ_k bound, u = 2^-24), allowed 2×.
// For m > 1 with bf16 weights, X is rounded to bf16 (relative 2^-9): + 2^-8·Σ|x·w|.
#include <gtest/gtest.h>

#include <cstdio>

#include <cmath>
#include <cstring>
#include <random>

#include "awqx/error.hpp"
#include "awqx/half.hpp"
#include "awqx/kernels.hpp"
#include "awqx/linear.hpp"
#include "awqx/parallel.hpp"
#include "kernels/q4_test_util.hpp"

namespace {

constexpr double kU = 1.0 / 16777216.0;

TEST(Q4Weights, DequantizeMatchesFormula) {
  awqx::Q4Weights w = awqx::Q4Weights::empty(2, 4, 2, true);
  // Row 0: q = 1 2 | 15 0 ; groups (z=3, s=0.5) (z=0, s=2). Row 1: q = 0 0 | 0 0, (z=8, s=1) x2.
  w.set_q(0, 0, 1), w.set_q(0, 1, 2), w.set_q(0, 2, 15), w.set_q(0, 3, 0);
  w.zeros = {3, 0, 8, 8};
  w.scales = {0.5f, 2.f, 1.f, 1.f};
  EXPECT_EQ(w.qdata[0], 0x21);
  EXPECT_EQ(w.qdata[1], 0x0F);
  const std::vector<float> d = w.dequantize();
  const std::vector<float> want = {-1.f, -0.5f, 30.f, 0.f, -8.f, -8.f, -8.f, -8.f};
  EXPECT_EQ(d, want);
  EXPECT_NO_THROW(w.validate("f", "t"));
}

TEST(Q4Weights, ValidateRejectsBadData) {
  auto expect_code = [](const awqx::Q4Weights& w, awqx::ErrorCode code) {
    try {
      w.validate("f.safetensors", "layer");
      ADD_FAILURE() << "no error";
    } catch (const awqx::Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
    }
  };
  awqx::Q4Weights w = awqx::Q4Weights::empty(4, 64, 32, true);
  auto a = w;
  a.qdata.pop_back();
  expect_code(a, awqx::ErrorCode::shape);
  a = w;
  a.zeros[3] = 16;
  expect_code(a, awqx::ErrorCode::format);
  a = w;
  a.scales[1] = NAN;
  expect_code(a, awqx::ErrorCode::format);
  a = w;
  a.bias = {1.f};
  expect_code(a, awqx::ErrorCode::shape);
  a = w;
  a.group_size = 48;
  expect_code(a, awqx::ErrorCode::shape);
  a = awqx::Q4Weights::empty(4, 64, 32, false);
  a.zeros[0] = 7;
  expect_code(a, awqx::ErrorCode::format);
  EXPECT_THROW(awqx::Q4Weights::empty(4, 63, 32, true), awqx::Error);
}

TEST(Q4Weights, ConcatRows) {
  const auto a = awqx_test::make_q4(3, 64, 32, true, awqx_test::Fill::random, 1, false);
  const auto b = awqx_test::make_q4(5, 64, 32, true, awqx_test::Fill::random, 2, true);
  const awqx::Q4Weights c = awqx::concat_rows({&a, &b});
  ASSERT_EQ(c.n, 8);
  ASSERT_EQ(c.bias.size(), 8u);
  for (int64_t r = 0; r < 8; ++r)
    for (int64_t k = 0; k < 64; ++k)
      ASSERT_EQ(c.dequant(r, k), r < 3 ? a.dequant(r, k) : b.dequant(r - 3, k)) << r << "," << k;
  EXPECT_EQ(c.bias[0], 0.f);
  EXPECT_EQ(c.bias[3], b.bias[0]);
  const auto d = awqx_test::make_q4(2, 64, 64, true, awqx_test::Fill::random, 3, false);
  EXPECT_THROW(awqx::concat_rows({&a, &d}), awqx::Error);
  EXPECT_THROW(awqx::concat_rows({}), awqx::Error);
}

TEST(Q4Linear, ForwardMatchesOracleForBothPaths) {
  const auto w = awqx_test::make_q4(70, 512, 128, true, awqx_test::Fill::random, 11, true);
  auto lin = awqx::make_q4_linear(w);
  EXPECT_EQ(lin->n(), 70);
  EXPECT_EQ(lin->k(), 512);
  for (int64_t m : {1, 9}) {
    const auto x = awqx_test::make_x(m, 512, 3);
    const auto yref = awqx_test::oracle(w, x, m);
    std::vector<float> y(static_cast<size_t>(m * 70));
    lin->forward(x.data(), m, y.data());
    for (size_t i = 0; i < y.size(); ++i) {
      double a = 0;  // loose: int8-activation kernels may be chosen; see gemv_q4g_test.cpp
      for (int64_t c = 0; c < 512; ++c)
        a += std::fabs(x[(i / 70) * 512 + c] * w.dequant(int64_t(i % 70), c));
      ASSERT_NEAR(y[i], yref[i], 0.02 * a + 1e-5) << lin->describe() << " m=" << m << " i=" << i;
    }
  }
}

// An entry with a measured crossover (min_m) is skipped by automatic selection below it, taken
// from it on when it is the best supported one, and still forcible at any m.
TEST(Registry, MinMCrossover) {
  const awqx::CpuInfo& cpu = awqx::cpu_info();
  int checked = 0;
  for (const auto& e : awqx::kernels::registry().entries()) {
    if (e.min_m <= 1) continue;
    const awqx::kernels::Problem below{e.min_m - 1, 256, 4096, 128, true}, at{e.min_m, 256, 4096, 128, true};
    const std::string why = awqx::kernels::why_unsupported(e, cpu, at);
    if (!why.empty()) {
      std::printf("  %s not checked here: %s\n", e.name, why.c_str());
      continue;
    }
    EXPECT_NE(&awqx::kernels::select(below, cpu, ""), &e) << e.name << " chosen below its crossover";
    EXPECT_EQ(&awqx::kernels::select(below, cpu, e.name), &e) << e.name << " not forcible below its crossover";
    bool best = true;  // is it the highest-priority entry that can run `at`?
    for (const auto& o : awqx::kernels::registry().entries())
      if (o.priority > e.priority && o.op == e.op && o.min_m <= at.m && awqx::kernels::why_unsupported(o, cpu, at).empty())
        best = false;
    if (best) {
      EXPECT_EQ(&awqx::kernels::select(at, cpu, ""), &e) << e.name << " not chosen at its crossover";
    }
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no kernel with a crossover can run here (AMX kernels need an AMX CPU)";
}

TEST(Registry, ForcedAndCappedSelection) {
  const awqx::CpuInfo& cpu = awqx::cpu_info();
  const awqx::kernels::Problem p{1, 256, 4096, 128, true};
  for (awqx::Isa cap : {awqx::Isa::ref, awqx::Isa::avx2, awqx::Isa::avx512, awqx::Isa::avx512vnni, awqx::Isa::amx}) {
    const awqx::CpuInfo capped = awqx::with_isa_cap(cpu, cap);
    for (int64_t m : {1, 512}) {
      auto q = p;
      q.m = m;
      const auto& e = awqx::kernels::select(q, capped, "");
      EXPECT_LE(static_cast<int>(e.isa), static_cast<int>(cap)) << e.name;
    }
    // Forcing every entry: allowed iff its ISA is within the cap and the CPU has it.
    for (const auto& e : awqx::kernels::registry().entries()) {
      const bool ok = static_cast<int>(e.isa) <= static_cast<int>(capped.isa);
      if (ok) {
        EXPECT_EQ(&awqx::kernels::select(p, capped, e.name), &e);
      } else {
        try {
          awqx::kernels::select(p, capped, e.name);
          ADD_FAILURE() << e.name << " selected above cap " << awqx::isa_name(cap);
        } catch (const awqx::Error& err) {
          EXPECT_EQ(err.code(), awqx::ErrorCode::unsupported_hardware);
        }
      }
    }
  }
  EXPECT_THROW(awqx::kernels::select(p, cpu, "no_such_kernel"), awqx::Error);
  EXPECT_EQ(std::string(awqx::kernels::select(p, cpu, "ref").family), "ref");
  awqx::Isa i;
  EXPECT_TRUE(awqx::parse_isa("AVX512VNNI", i));
  EXPECT_EQ(i, awqx::Isa::avx512vnni);
  EXPECT_FALSE(awqx::parse_isa("sse9", i));
  EXPECT_THROW(awqx::detect_cpu("sse9"), awqx::Error);
  EXPECT_EQ(awqx::detect_cpu("ref").isa, awqx::Isa::ref);
}

TEST(Registry, PackedFormatMismatchIsAnError) {
  const auto w = awqx_test::make_q4(16, 64, 32, true, awqx_test::Fill::random, 1, false);
  const auto& reg = awqx::kernels::registry();
  const auto* ref = reg.find("gemv_f32_q4g_ref");
  ASSERT_NE(ref, nullptr);
  const auto packed = awqx::kernels::pack_q4r16x8(w);
  EXPECT_THROW(awqx::kernels::check_packed(*ref, packed), awqx::Error);
}

// Builds a [n][k] view of the given dtype from fp32 values (rounded for bf16/f16).
awqx::TensorView fp_view(awqx::DType dt, int64_t n, int64_t k, const std::vector<float>& v) {
  auto buf = std::make_shared<std::vector<uint8_t>>(v.size() * (dt == awqx::DType::F32 ? 4 : 2));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == awqx::DType::F32) {
      std::memcpy(buf->data() + 4 * i, &v[i], 4);
    } else {
      const uint16_t h = dt == awqx::DType::BF16 ? awqx::f32_to_bf16(v[i]) : awqx::f32_to_f16(v[i]);
      std::memcpy(buf->data() + 2 * i, &h, 2);
    }
  }
  awqx::TensorView t;
  t.name = "w";
  t.dtype = dt;
  t.shape = {n, k};
  t.data = buf->data();
  t.nbytes = buf->size();
  t.owner = buf;
  return t;
}

float widen(awqx::DType dt, float v) {
  if (dt == awqx::DType::BF16) return awqx::bf16_to_f32(awqx::f32_to_bf16(v));
  if (dt == awqx::DType::F16) return awqx::round_to_f16(v);
  return v;
}

TEST(FpLinear, MatchesDoubleLoop) {
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (awqx::DType dt : {awqx::DType::F32, awqx::DType::BF16, awqx::DType::F16})
    for (int64_t k : {1, 15, 16, 33, 300})
      for (const std::string backend : {"", "ref"}) {
        const int64_t n = 37;
        std::vector<float> wv(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n));
        for (auto& v : wv) v = nd(rng);
        for (auto& v : bias) v = nd(rng);
        auto lin = awqx::make_fp_linear(fp_view(dt, n, k, wv), bias, backend);
        for (int64_t m : {1, 2, 5, 9, 17, 40}) {
          std::vector<float> x(static_cast<size_t>(m * k)), y(static_cast<size_t>(m * n));
          for (auto& v : x) v = nd(rng);
          lin->forward(x.data(), m, y.data());
          for (int64_t i = 0; i < m; ++i)
            for (int64_t r = 0; r < n; ++r) {
              double ref = bias[r], a = 0;
              for (int64_t c = 0; c < k; ++c) {
                const double p = double(x[i * k + c]) * widen(dt, wv[r * k + c]);
                ref += p;
                a += std::fabs(p);
              }
              double tol = 2.0 * (k + 2) * kU * (a + std::fabs(bias[r]));
              if (m > awqx::fp_gemv_max_rows(dt) && dt == awqx::DType::BF16 && backend.empty()) tol += a / 256.0;
              ASSERT_NEAR(y[i * n + r], ref, tol) << lin->describe() << " k=" << k << " m=" << m;
            }
        }
      }
}

// Batched decode: up to fp_gemv_max_rows rows (every row with a forced exact backend) each row's
// output is bitwise what that row alone gives, for any thread count: shapes cross the kernel's
// 32-column steps, k slices (512), 8-row weight blocks and 8-row x chunks, and k = 4096's 4 KiB
// row stride.
TEST(FpLinear, SmallBatchRowsAreBitwiseSingleRow) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int threads0 = awqx::num_threads();
  for (awqx::DType dt : {awqx::DType::F32, awqx::DType::BF16, awqx::DType::F16})
    for (int64_t k : {1, 15, 33, 512, 545, 1040, 4096})
      for (int64_t n : {1, 9, 37}) {
        std::vector<float> wv(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n));
        for (auto& v : wv) v = nd(rng);
        for (auto& v : bias) v = nd(rng);
        for (const std::string backend : {"", "avx512", "ref"}) {
          auto lin = awqx::make_fp_linear(fp_view(dt, n, k, wv), bias, backend);
          const int64_t max_m = backend.empty() ? awqx::fp_gemv_max_rows(dt) : 19;
          std::vector<float> x(static_cast<size_t>(max_m * k));
          for (auto& v : x) v = nd(rng);
          std::vector<float> alone(static_cast<size_t>(max_m * n));
          awqx::set_num_threads(1);
          for (int64_t i = 0; i < max_m; ++i) lin->forward(x.data() + i * k, 1, alone.data() + i * n);
          for (int threads : {1, 2, 3}) {
            awqx::set_num_threads(threads);
            for (int64_t m = 2; m <= max_m; ++m) {
              std::vector<float> y(static_cast<size_t>(m * n));
              lin->forward(x.data(), m, y.data());
              ASSERT_EQ(std::memcmp(y.data(), alone.data(), y.size() * sizeof(float)), 0)
                  << lin->describe() << " k=" << k << " n=" << n << " m=" << m << " threads=" << threads;
            }
          }
        }
      }
  awqx::set_num_threads(threads0);
}

TEST(FpLinear, FusedEqualsSeparate) {
  std::vector<float> a(4 * 8), b(3 * 8);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.25f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = -float(i);
  auto fused = awqx::make_fp_linear_fused({fp_view(awqx::DType::BF16, 4, 8, a), fp_view(awqx::DType::BF16, 3, 8, b)});
  auto la = awqx::make_fp_linear(fp_view(awqx::DType::BF16, 4, 8, a));
  auto lb = awqx::make_fp_linear(fp_view(awqx::DType::BF16, 3, 8, b));
  std::vector<float> x(8, 1.5f), y(7), ya(4), yb(3);
  fused->forward(x.data(), 1, y.data());
  la->forward(x.data(), 1, ya.data());
  lb->forward(x.data(), 1, yb.data());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y[i], ya[i]);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(y[4 + i], yb[i]);
  EXPECT_THROW(awqx::make_fp_linear_fused({fp_view(awqx::DType::BF16, 4, 8, a), fp_view(awqx::DType::F32, 3, 8, b)}),
               awqx::Error);
}

TEST(FpLinear, RejectsBadWeights) {
  auto t = fp_view(awqx::DType::F32, 2, 4, std::vector<float>(8, 1.f));
  t.dtype = awqx::DType::I32;
  EXPECT_THROW(awqx::make_fp_linear(t), awqx::Error);
  t = fp_view(awqx::DType::F32, 2, 4, std::vector<float>(8, 1.f));
  t.shape = {3, 4};
  EXPECT_THROW(awqx::make_fp_linear(t), awqx::Error);
  t.shape = {2, 4};
  EXPECT_THROW(awqx::make_fp_linear(t, {1.f}), awqx::Error);
}

}  // namespace

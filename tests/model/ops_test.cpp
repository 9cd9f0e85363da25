// ops vs straightforward double-precision formulas. Tolerances: fp32 ops over d <= 256 terms
// accumulate relative error ~ d * 2^-24 ≈ 1.5e-5; 1e-4 leaves margin for exp/sin/cos ulp error.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "awqx/parallel.hpp"
#include "awqx/cpu.hpp"
#include "awqx/half.hpp"
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

// Causal GQA attention vs a double-precision loop, and bit-identical for 1, 2 and 3 threads
// (which change how decode splits a GQA group and how tiles fall on threads): a portable head
// size, prefill tiles with a tail, decode with and without GQA, a group larger than one tile.
TEST(Ops, AttentionCausalGqa) {
  struct Case {
    int heads, kv_heads, hd;
    int64_t n_past, m;
  };
  for (const Case& c : {Case{4, 2, 8, 3, 4}, Case{8, 2, 64, 5, 37}, Case{32, 8, 128, 40, 1}, Case{8, 8, 64, 20, 1},
                        Case{24, 1, 64, 33, 1}, Case{12, 4, 80, 0, 18}}) {
    const int heads = c.heads, kv_heads = c.kv_heads, hd = c.hd;
    const int64_t n_past = c.n_past, m = c.m, total = n_past + m;
    const int64_t kv_stride = kv_heads * hd, q_stride = heads * hd;
    auto q = randv(m * q_stride, 4), k = randv(total * kv_stride, 5), v = randv(total * kv_stride, 6);
    std::vector<float> out(m * q_stride);
    for (int threads : {2, 1, 3}) {
      std::vector<float> o(m * q_stride);
      set_num_threads(threads);
      ops::attention(q.data(), m, q_stride, k.data(), v.data(), kv_stride, n_past, heads, kv_heads, hd, o.data(),
                     q_stride);
      if (threads == 2) out = o;
      EXPECT_EQ(o, out) << "threads " << threads << " heads " << heads << "/" << kv_heads << " m " << m;
    }
    set_num_threads(0);
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
          ASSERT_NEAR(out[i * q_stride + h * hd + d], acc, 1e-4)
              << "heads " << heads << "/" << kv_heads << " hd " << hd << " m " << m << " row " << i << " head " << h;
        }
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

// The AVX-512 row kernels vs the portable oracle (ops_simd.hpp). attend_rows: every supported
// head_dim, tiles of 1, 3 and 16 rows, key counts with and without a 16-wide tail, contiguous
// rows and paged blocks (a shuffled block table, block sizes that do and do not divide the key
// count), every KV element type, large logits (softmax dominated by one key). Tolerance: both
// sum ≤ 256 fp32 products per score (relative error ~ 256·2^-24 ≈ 1.5e-5 of Σ|q·k|) and a
// convex combination of V; 2e-5·(1 + |out|) bounds both with margin (16-bit elements are
// widened exactly, so they add nothing), and a wrong key, stride, block, row or tail would be
// off by O(1).
namespace {
struct KvFixture {
  std::vector<float> kf, vf;
  std::vector<uint16_t> kh, vh;
  std::vector<int32_t> table;
  ops::KvRows kv{nullptr, nullptr};
  // n_pos positions of one head; bs = 0: contiguous, else blocks of bs in a reversed table.
  KvFixture(KvType type, int hd, int64_t n_pos, int64_t bs, uint32_t seed) {
    const int64_t n_blocks = bs ? (n_pos + bs - 1) / bs : 1, cap = bs ? bs : n_pos;
    kf = randv(n_blocks * cap * hd, seed);
    vf = randv(n_blocks * cap * hd, seed + 1);
    kh.resize(kf.size());
    vh.resize(vf.size());
    for (size_t i = 0; i < kf.size(); ++i) {
      kh[i] = type == KvType::bf16 ? f32_to_bf16(kf[i]) : f32_to_f16(kf[i]);
      vh[i] = type == KvType::bf16 ? f32_to_bf16(vf[i]) : f32_to_f16(vf[i]);
    }
    table.resize(static_cast<size_t>(n_blocks));
    for (int64_t b = 0; b < n_blocks; ++b) table[b] = static_cast<int32_t>(n_blocks - 1 - b);
    kv = {type == KvType::f32 ? static_cast<const void*>(kf.data()) : kh.data(),
          type == KvType::f32 ? static_cast<const void*>(vf.data()) : vh.data()};
    kv.table = bs ? table.data() : nullptr;
    kv.block_size = cap;
    kv.block_stride = cap * hd;
    kv.pos_stride = hd;
    kv.type = type;
  }
};
}  // namespace

TEST(OpsSimd, AttendRowsMatchesPortable) {
  if (!cpu_info().has(Isa::avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (KvType type : {KvType::f32, KvType::f16, KvType::bf16})
    for (int hd : {64, 80, 96, 128, 256})
      for (int rows : {1, 3, 16})
        for (int64_t n0 : {1, 7, 16, 33, 300})
          for (int64_t bs : {int64_t{0}, int64_t{16}, int64_t{7}})
            for (float qscale : {1.f, 8.f}) {
              const ops::RowKeys keys{n0, qscale > 1 ? 0 : 1};  // causal rows, or rows at one position (GQA decode)
              const int64_t n_max = keys.count(rows - 1), q_stride = hd + 5, o_stride = hd + 3;
              const KvFixture f(type, hd, n_max, bs, 12);
              const auto q = randv(rows * q_stride, 11, qscale);
              std::vector<float> s1(rows * n_max), s2(rows * n_max), o1(rows * o_stride), o2(rows * o_stride);
              const float scale = 1.f / std::sqrt(float(hd));
              ops::attend_rows_portable(q.data(), q_stride, rows, f.kv, keys, hd, scale, s1.data(), o1.data(), o_stride);
              ops::attend_rows_avx512(q.data(), q_stride, rows, f.kv, keys, hd, scale, s2.data(), o2.data(), o_stride);
              for (int r = 0; r < rows; ++r)
                for (int d = 0; d < hd; ++d)
                  ASSERT_NEAR(o2[r * o_stride + d], o1[r * o_stride + d], 2e-5 * (1 + std::fabs(o1[r * o_stride + d])))
                      << kv_type_name(type) << " hd " << hd << " rows " << rows << " n0 " << n0 << " step " << keys.step << " bs " << bs
                      << " row " << r << " d " << d;
            }
}

// Tiling must not change a bit: every row of a 16-row tile equals the same row run alone
// (decode) and inside a tile that starts elsewhere, for every KV type and a paged table. The
// engine's batch invariance (a sequence's tokens do not depend on its neighbours or on how its
// prompt was chunked) rests on this.
TEST(OpsSimd, AttendRowsTileIsBitwiseLoneRow) {
  if (!cpu_info().has(Isa::avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (KvType type : {KvType::f32, KvType::f16, KvType::bf16})
    for (int hd : {64, 128}) {
      const int rows = 16;
      const int64_t n0 = 37, n_max = n0 + rows - 1;
      const KvFixture f(type, hd, n_max, 16, 31);
      const auto q = randv(rows * hd, 32);
      std::vector<float> sc(rows * n_max), tile(rows * hd), one(hd), part(5 * hd);
      const float scale = 1.f / std::sqrt(float(hd));
      ops::attend_rows_avx512(q.data(), hd, rows, f.kv, ops::RowKeys{n0, 1}, hd, scale, sc.data(), tile.data(), hd);
      for (int r = 0; r < rows; ++r) {
        ops::attend_rows_avx512(q.data() + r * hd, hd, 1, f.kv, ops::RowKeys{n0 + r, 1}, hd, scale, sc.data(),
                                one.data(), hd);
        for (int d = 0; d < hd; ++d) ASSERT_EQ(tile[r * hd + d], one[d]) << kv_type_name(type) << " row " << r;
      }
      ops::attend_rows_avx512(q.data() + 9 * hd, hd, 5, f.kv, ops::RowKeys{n0 + 9, 1}, hd, scale, sc.data(),
                              part.data(), hd);
      for (int i = 0; i < 5 * hd; ++i) ASSERT_EQ(part[i], tile[9 * hd + i]) << kv_type_name(type) << " i " << i;
      // Rows at one position (a GQA group in decode): each equals the lone row at that position.
      std::vector<float> same(4 * hd);
      ops::attend_rows_avx512(q.data(), hd, 4, f.kv, ops::RowKeys{n0 + 6, 0}, hd, scale, sc.data(), same.data(), hd);
      for (int r = 0; r < 4; ++r) {
        ops::attend_rows_avx512(q.data() + r * hd, hd, 1, f.kv, ops::RowKeys{n0 + 6, 1}, hd, scale, sc.data(),
                                one.data(), hd);
        for (int d = 0; d < hd; ++d) ASSERT_EQ(same[r * hd + d], one[d]) << kv_type_name(type) << " step 0 row " << r;
      }
    }
}

// Paging must not change a result by a single bit: the same keys/values in one contiguous
// block and scattered over a shuffled block table give identical outputs (both row kernels).
TEST(OpsSimd, AttendRowPagedIsBitwiseContiguous) {
  const int hd = 64;
  const int64_t n_keys = 45, bs = 8, n_blocks = 6;
  auto q = randv(3 * hd, 21), kf = randv(n_blocks * bs * hd, 22), vf = randv(n_blocks * bs * hd, 23);
  const std::vector<int32_t> table = {3, 0, 5, 1, 4, 2};
  std::vector<float> kp(kf.size()), vp(vf.size());
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int64_t i = 0; i < bs * hd; ++i) {
      kp[table[b] * bs * hd + i] = kf[b * bs * hd + i];
      vp[table[b] * bs * hd + i] = vf[b * bs * hd + i];
    }
  ops::KvRows flat{kf.data(), vf.data()};
  flat.pos_stride = hd;
  ops::KvRows paged{kp.data(), vp.data()};
  paged.table = table.data();
  paged.block_size = bs;
  paged.block_stride = bs * hd;
  paged.pos_stride = hd;
  std::vector<float> sc(3 * n_keys), o1(3 * hd), o2(3 * hd);
  for (auto fn : {ops::attend_rows_portable, ops::attend_rows_avx512}) {
    if (fn == ops::attend_rows_avx512 && !cpu_info().has(Isa::avx512)) continue;
    fn(q.data(), hd, 3, flat, ops::RowKeys{n_keys - 2, 1}, hd, 0.125f, sc.data(), o1.data(), hd);
    fn(q.data(), hd, 3, paged, ops::RowKeys{n_keys - 2, 1}, hd, 0.125f, sc.data(), o2.data(), hd);
    for (int d = 0; d < 3 * hd; ++d) ASSERT_EQ(o1[d], o2[d]) << d;
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

// Quantizer properties (awq-reference.md §1), exactness of folding the AWQ scales into the
// previous op (§2 "Apply"), and AWQ beating RTN on a synthetic layer with outlier channels.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "awqx/half.hpp"
#include "quant/awq.hpp"

namespace {

using namespace awqx::quant;

std::vector<float> randn(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Quantizer, ErrorBoundedByHalfScaleAndIntegersConsistent) {
  for (bool zp : {true, false})
    for (int64_t g : {32, 128}) {
      const int64_t n = 16, k = 256;
      std::vector<float> w = randn(static_cast<size_t>(n * k), 7 + static_cast<uint32_t>(g));
      std::vector<float> dq = w;
      QParams p{4, g, zp};
      awqx::Q4Weights q;
      pseudo_quantize(dq.data(), n, k, p, &q);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) {
          const float s = q.scales[static_cast<size_t>(r * (k / g) + c / g)];
          ASSERT_EQ(s, awqx::round_to_f16(s)) << "scale must be fp16-representable";
          // Stored integers dequantize to exactly the pseudo-quantized value.
          ASSERT_EQ(q.dequant(r, c), dq[static_cast<size_t>(r * k + c)]);
          // Every value lies in its group's representable range (the grid covers [min, max] for
          // zp; [-8s, 7s] for symmetric, where only +max can fall outside by <= s), so the
          // rounding error is at most s/2 (+ fp32 rounding of w/s, hence the 1e-6 relative slack).
          const float wv = w[static_cast<size_t>(r * k + c)];
          const float lim = (zp || wv <= 7.0f * s) ? 0.5f * s : 1.0f * s;
          ASSERT_LE(std::fabs(dq[static_cast<size_t>(r * k + c)] - wv), lim * (1 + 1e-5f) + 1e-7f)
              << "zp=" << zp << " g=" << g << " r=" << r << " c=" << c;
        }
      if (!zp) {
        for (uint8_t z : q.zeros) ASSERT_EQ(z, 8);
      }
    }
}

TEST(Quantizer, RoundHalfToEvenAndKnownGroup) {
  // Group [0, 1.5, 3, ..., 22.5] (16 values): min 0, max 22.5 -> scale 1.5 (fp16-exact), zero 0,
  // q = 0..15 exactly. Then a tie: w = 0.75 with scale 1.5 -> 0.5 rounds to even 0.
  std::vector<float> w(16);
  for (int i = 0; i < 16; ++i) w[i] = 1.5f * i;
  QParams p{4, 16, true};
  uint8_t q[16], z;
  float s;
  std::vector<float> a = w;
  quant_group(a.data(), 16, p, q, &s, &z);
  EXPECT_EQ(s, 1.5f);
  EXPECT_EQ(z, 0);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(q[i], i);
  a = w;
  a[3] = 0.75f;   // 0.5 -> 0 (even)
  a[5] = 3.75f;   // 2.5 -> 2 (even)
  quant_group(a.data(), 16, p, q, &s, &z);
  EXPECT_EQ(q[3], 0);
  EXPECT_EQ(q[5], 2);
  // Symmetric: max|w| = 7 -> scale 1, -6.5 -> -6 (even; nibble 2), 2.5 -> 2 (nibble 10).
  std::vector<float> b(16, 0.0f);
  b[0] = 7.0f;
  b[1] = -6.5f;
  b[2] = 2.5f;
  QParams ps{4, 16, false};
  quant_group(b.data(), 16, ps, q, &s, &z);
  EXPECT_EQ(s, 1.0f);
  EXPECT_EQ(z, 8);
  EXPECT_EQ(q[0], 15);
  EXPECT_EQ(q[1], 2);
  EXPECT_EQ(q[2], 10);
  EXPECT_EQ(b[1], -6.0f);
}

struct SynthLayer {
  LayerShape s;
  LayerWeights w;
  std::vector<float> x;
  awqx::ops::RopeTable rope;
  int64_t nb = 2, L = 32;
};

// Small layer (hidden 64, GQA 4 heads / 2 kv, inter 128) with a few large activation channels,
// the situation AWQ is designed for.
SynthLayer make_layer(bool outliers, bool mha = false) {
  SynthLayer l;
  l.s.hidden = 64;
  l.s.inter = 128;
  l.s.n_heads = 4;
  l.s.n_kv = mha ? 4 : 2;
  l.s.head_dim = 16;
  l.s.eps = 1e-5f;
  uint32_t seed = 100;
  l.w.ln1 = std::vector<float>(64, 1.0f);
  l.w.ln2 = std::vector<float>(64, 1.0f);
  for (int i = 0; i < kNumLin; ++i)
    l.w.w[i] = randn(static_cast<size_t>(l.s.out_features(i) * l.s.in_features(i)), seed++, 0.08f);
  if (outliers)
    for (int c : {3, 17, 40}) l.w.ln1[c] = l.w.ln2[c] = 12.0f;  // large normed-input channels
  l.x = randn(static_cast<size_t>(l.nb * l.L * 64), 999);
  l.rope = awqx::ops::RopeTable(16, 10000.0f, {}, l.L);
  return l;
}

TEST(Awq, ApplyingScalesLeavesFpLayerOutputUnchanged) {
  for (bool mha : {false, true}) {
    SynthLayer l = make_layer(true, mha);
    const int64_t t = l.nb * l.L;
    std::vector<float> ref(static_cast<size_t>(t * 64)), out(ref.size());
    LayerInputs rec;
    layer_forward(l.w, l.s, l.rope, l.x.data(), l.nb, l.L, ref.data(), &rec);
    // Search + apply without clipping; pseudo-quantization is not applied to the weights, so the
    // scaled FP layer must compute the same function up to fp32 rounding (each weight and norm
    // entry gets one multiply and one divide: relative error ~1e-6 per product, summed over the
    // layer's ~3 chained matmuls -> 1e-4 of the output scale is a generous bound).
    AwqParams p;
    p.q.group_size = 32;
    p.apply_clip = false;
    AwqLayerReport rep;
    LayerWeights w = l.w;
    awq_scale_and_clip(w, l.s, l.rope, rec, Blocks::all(l.nb, l.L), p, &rep);
    EXPECT_NE(w.ln1, l.w.ln1) << "scales were applied";
    if (mha) {
      EXPECT_GE(rep.best_ratio[1], 0) << "v->o group searched without GQA";
    } else {
      EXPECT_EQ(rep.best_ratio[1], -1) << "v->o group skipped for GQA";
    }
    layer_forward(w, l.s, l.rope, l.x.data(), l.nb, l.L, out.data(), nullptr);
    double maxabs = 0;
    for (float v : ref) maxabs = std::max(maxabs, static_cast<double>(std::fabs(v)));
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-4 * maxabs) << i;
  }
}

// Output MSE of the layer with all linears pseudo-quantized vs the FP layer.
double quantized_layer_mse(SynthLayer l, bool awq, bool clip) {
  const int64_t t = l.nb * l.L;
  std::vector<float> ref(static_cast<size_t>(t * 64)), out(ref.size());
  LayerInputs rec;
  layer_forward(l.w, l.s, l.rope, l.x.data(), l.nb, l.L, ref.data(), &rec);
  AwqParams p;
  p.q.group_size = 32;
  p.apply_clip = clip;
  if (awq) awq_scale_and_clip(l.w, l.s, l.rope, rec, Blocks::all(l.nb, l.L), p, nullptr);
  for (int i = 0; i < kNumLin; ++i) pseudo_quantize(l.w.w[i].data(), l.s.out_features(i), l.s.in_features(i), p.q);
  layer_forward(l.w, l.s, l.rope, l.x.data(), l.nb, l.L, out.data(), nullptr);
  return mse(ref.data(), out.data(), static_cast<int64_t>(ref.size()));
}

TEST(Awq, BeatsRtnOnLayerWithOutlierChannels) {
  const SynthLayer l = make_layer(true);
  const double rtn = quantized_layer_mse(l, false, false);
  const double awq = quantized_layer_mse(l, true, false);
  const double awq_clip = quantized_layer_mse(l, true, true);
  // The ratio 0 candidate (s = 1 after normalization) is plain RTN per group, so the search can
  // only help each group; with outlier channels it should help clearly (measured ~2-5x).
  EXPECT_LT(awq, 0.8 * rtn) << "rtn " << rtn << " awq " << awq;
  EXPECT_LT(awq_clip, rtn) << "rtn " << rtn << " awq+clip " << awq_clip;
}

TEST(Awq, ClipNeverIncreasesTheSampledError) {
  const int64_t n = 64, k = 64, t = 40;
  std::vector<float> w = randn(static_cast<size_t>(n * k), 5, 0.1f), x = randn(static_cast<size_t>(t * k), 6);
  for (int64_t r = 0; r < n; ++r) w[static_cast<size_t>(r * k + (r % k))] = 1.0f;  // one outlier per row
  QParams p{4, 32, true};
  auto err = [&](std::vector<float> ww) {
    std::vector<float> q = ww, y0(static_cast<size_t>(t * n)), y1(y0.size());
    pseudo_quantize(q.data(), n, k, p);
    awqx::ops::matmul_f32(x.data(), w.data(), y0.data(), t, n, k);
    awqx::ops::matmul_f32(x.data(), q.data(), y1.data(), t, n, k);
    return mse(y0.data(), y1.data(), t * n);
  };
  std::vector<float> c = w;
  clip_weight(c.data(), n, k, x.data(), Blocks::all(1, t), p);
  // Step 0 (no clipping) is a candidate per (row, group), so the chosen clip is no worse per
  // group; summed over groups the layer error cannot grow beyond cross-group rounding noise.
  EXPECT_LE(err(c), err(w) * (1 + 1e-6));
  EXPECT_NE(c, w);
}

}  // namespace

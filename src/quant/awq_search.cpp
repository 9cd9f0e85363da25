// Activation-aware scale search, scale application and weight-clipping search
// (awq-reference.md §2, §3), on one fp32 decoder layer.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "awqx/parallel.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {
namespace {

// Mean |x| per input channel over t rows of k (x_mean).
std::vector<float> abs_mean_cols(const float* x, int64_t t, int64_t k) {
  std::vector<float> out(static_cast<size_t>(k));
  parallel_for(0, k, 32, [&](int64_t c0, int64_t c1) {
    std::vector<double> acc(static_cast<size_t>(c1 - c0), 0.0);
    for (int64_t r = 0; r < t; ++r)
      for (int64_t c = c0; c < c1; ++c) acc[static_cast<size_t>(c - c0)] += std::fabs(x[r * k + c]);
    for (int64_t c = c0; c < c1; ++c) out[static_cast<size_t>(c)] = static_cast<float>(acc[static_cast<size_t>(c - c0)] / t);
  });
  return out;
}

// w_mean: |w| normalized by its (row, group) max, averaged over the rows of all given weights.
std::vector<float> weight_mean(const std::vector<const std::vector<float>*>& ws, int64_t k, int64_t g) {
  std::vector<float> out(static_cast<size_t>(k));
  int64_t rows = 0;
  for (auto* w : ws) rows += static_cast<int64_t>(w->size()) / k;
  parallel_for(0, k / g, 1, [&](int64_t j0, int64_t j1) {
    std::vector<double> acc(static_cast<size_t>(g));
    for (int64_t j = j0; j < j1; ++j) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (auto* wv : ws) {
        const int64_t n = static_cast<int64_t>(wv->size()) / k;
        for (int64_t r = 0; r < n; ++r) {
          const float* w = wv->data() + r * k + j * g;
          float mx = 0.0f;
          for (int64_t i = 0; i < g; ++i) mx = std::max(mx, std::fabs(w[i]));
          const float inv = 1.0f / (mx + 1e-6f);
          for (int64_t i = 0; i < g; ++i) acc[static_cast<size_t>(i)] += std::fabs(w[i]) * inv;
        }
      }
      for (int64_t i = 0; i < g; ++i) out[static_cast<size_t>(j * g + i)] = static_cast<float>(acc[static_cast<size_t>(i)] / rows);
    }
  });
  return out;
}

// W[:, c] *= s[c] (or /=).
void scale_cols(float* w, int64_t n, int64_t k, const float* s, bool divide) {
  parallel_for(0, n, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < k; ++c) w[r * k + c] = divide ? w[r * k + c] / s[c] : w[r * k + c] * s[c];
  });
}

struct Group {
  std::vector<int> fcs;                                    // linears sharing the input
  const std::vector<float>* x;                             // their recorded input [t][k]
  std::function<void(const std::vector<const float*>&, float*)> inspect;  // weights of fcs -> output
  int64_t out_elems;
};

// Returns the best scales (empty if no ratio gave a finite loss).
std::vector<float> search_scale(const LayerWeights& lw, const Group& gr, int64_t t, int64_t k, const AwqParams& p,
                                double* best_loss, int* best_ratio) {
  std::vector<const std::vector<float>*> ws;
  for (int l : gr.fcs) ws.push_back(&lw.w[l]);
  const std::vector<float> x_mean = abs_mean_cols(gr.x->data(), t, k);
  const std::vector<float> w_mean = weight_mean(ws, k, p.q.group(k));
  std::vector<const float*> orig;
  for (auto* w : ws) orig.push_back(w->data());
  std::vector<float> y_ref(static_cast<size_t>(gr.out_elems)), y(static_cast<size_t>(gr.out_elems));
  gr.inspect(orig, y_ref.data());

  std::vector<float> best, s(static_cast<size_t>(k));
  std::vector<std::vector<float>> cand(ws.size());
  *best_loss = std::numeric_limits<double>::infinity();
  *best_ratio = -1;
  for (int j = 0; j < p.n_grid; ++j) {
    const double ratio = static_cast<double>(j) / p.n_grid;
    for (int64_t c = 0; c < k; ++c) {
      double v = std::pow(static_cast<double>(x_mean[c]), ratio);
      if (p.duo_scaling) v /= std::pow(static_cast<double>(w_mean[c]), 1.0 - ratio) + 1e-4;
      s[c] = static_cast<float>(std::max(v, 1e-4));
    }
    const auto [mn, mx] = std::minmax_element(s.begin(), s.end());
    const float norm = std::sqrt(*mx * *mn);
    for (float& v : s) {
      v /= norm;
      if (!std::isfinite(v)) v = 1.0f;
    }
    std::vector<const float*> ptrs;
    for (size_t f = 0; f < ws.size(); ++f) {
      cand[f] = *ws[f];
      const int64_t n = static_cast<int64_t>(cand[f].size()) / k;
      scale_cols(cand[f].data(), n, k, s.data(), false);
      pseudo_quantize(cand[f].data(), n, k, p.q);
      scale_cols(cand[f].data(), n, k, s.data(), true);
      ptrs.push_back(cand[f].data());
    }
    gr.inspect(ptrs, y.data());
    const double loss = mse(y_ref.data(), y.data(), gr.out_elems);
    if (loss < *best_loss) {  // strict: the first of equal losses wins, as in AutoAWQ
      *best_loss = loss;
      *best_ratio = j;
      best = s;
    }
  }
  return best;
}

}  // namespace

void awq_scale_and_clip(LayerWeights& lw, const LayerShape& s, const ops::RopeTable& rope, LayerInputs& rec,
                        int64_t n_blocks, int64_t seqlen, const AwqParams& p, AwqLayerReport* report) {
  const int64_t t = n_blocks * seqlen, h = s.hidden;
  auto bias = [&](int l) { return lw.b[l].empty() ? nullptr : lw.b[l].data(); };
  const bool all_q = p.quantize[kQ] && p.quantize[kK] && p.quantize[kV];
  std::vector<float> s_qkv, s_o, s_mlp, s_down;
  AwqLayerReport rep;

  // 1. Searches, all on the original weights and recorded inputs (AutoAWQ order).
  if (all_q) {
    Group g{{kQ, kK, kV}, &rec.attn_in,
            [&](const std::vector<const float*>& w, float* out) {
              attn_block(rec.attn_in.data(), w[0], bias(kQ), w[1], bias(kK), w[2], bias(kV), lw.w[kO].data(), s, rope,
                         n_blocks, seqlen, out, nullptr);
            },
            t * h};
    s_qkv = search_scale(lw, g, t, h, p, &rep.loss[0], &rep.best_ratio[0]);
  }
  // v_proj -> o_proj only without GQA (same weight shapes), as AutoAWQ.
  if (s.n_kv == s.n_heads && p.quantize[kO] && p.quantize[kV]) {
    const int64_t qd = int64_t{s.n_heads} * s.head_dim;
    Group g{{kO}, &rec.o_in,
            [&](const std::vector<const float*>& w, float* out) { ops::matmul_f32(rec.o_in.data(), w[0], out, t, h, qd); },
            t * h};
    s_o = search_scale(lw, g, t, qd, p, &rep.loss[1], &rep.best_ratio[1]);
  }
  if (p.quantize[kGate] && p.quantize[kUp]) {
    Group g{{kGate, kUp}, &rec.mlp_in,
            [&](const std::vector<const float*>& w, float* out) {
              mlp_block(rec.mlp_in.data(), w[0], w[1], lw.w[kDown].data(), s, t, out, nullptr);
            },
            t * h};
    s_mlp = search_scale(lw, g, t, h, p, &rep.loss[2], &rep.best_ratio[2]);
  }
  if (p.quantize[kDown]) {
    Group g{{kDown}, &rec.down_in,
            [&](const std::vector<const float*>& w, float* out) {
              ops::matmul_f32(rec.down_in.data(), w[0], out, t, h, s.inter);
            },
            t * h};
    s_down = search_scale(lw, g, t, s.inter, p, &rep.loss[3], &rep.best_ratio[3]);
  }

  // 2. Apply: fold 1/s into the previous op, s into the linears, 1/s into the recorded inputs.
  auto apply_fcs = [&](const std::vector<float>& sc, std::initializer_list<int> fcs, std::vector<float>& x, int64_t k) {
    for (int l : fcs) scale_cols(lw.w[l].data(), static_cast<int64_t>(lw.w[l].size()) / k, k, sc.data(), false);
    scale_cols(x.data(), static_cast<int64_t>(x.size()) / k, k, sc.data(), true);
  };
  auto apply_prev_linear = [&](const std::vector<float>& sc, int prev, int64_t k_prev) {
    // Output rows of prev (its last sc.size() rows) and its bias divided by s.
    const int64_t n = static_cast<int64_t>(lw.w[prev].size()) / k_prev, off = n - static_cast<int64_t>(sc.size());
    for (int64_t r = 0; r < static_cast<int64_t>(sc.size()); ++r) {
      for (int64_t c = 0; c < k_prev; ++c) lw.w[prev][static_cast<size_t>((off + r) * k_prev + c)] /= sc[r];
      if (!lw.b[prev].empty()) lw.b[prev][static_cast<size_t>(off + r)] /= sc[r];
    }
  };
  if (!s_qkv.empty()) {
    for (int64_t c = 0; c < h; ++c) lw.ln1[c] /= s_qkv[c];
    apply_fcs(s_qkv, {kQ, kK, kV}, rec.attn_in, h);
  }
  if (!s_o.empty()) {
    apply_prev_linear(s_o, kV, h);
    apply_fcs(s_o, {kO}, rec.o_in, int64_t{s.n_heads} * s.head_dim);
  }
  if (!s_mlp.empty()) {
    for (int64_t c = 0; c < h; ++c) lw.ln2[c] /= s_mlp[c];
    apply_fcs(s_mlp, {kGate, kUp}, rec.mlp_in, h);
  }
  if (!s_down.empty()) {
    apply_prev_linear(s_down, kUp, h);
    apply_fcs(s_down, {kDown}, rec.down_in, s.inter);
  }

  // 3. Clip search on the scaled weights, except q/k (their error is amplified by softmax).
  if (p.apply_clip) {
    const std::pair<int, const std::vector<float>*> clip[] = {
        {kV, &rec.attn_in}, {kO, &rec.o_in}, {kGate, &rec.mlp_in}, {kUp, &rec.mlp_in}, {kDown, &rec.down_in}};
    for (const auto& [l, x] : clip) {
      if (!p.quantize[l]) continue;
      clip_weight(lw.w[l].data(), s.out_features(l), s.in_features(l), x->data(), t, p.q);
    }
  }
  if (report) *report = rep;
}

void clip_weight(float* w, int64_t n, int64_t k, const float* x, int64_t t, const QParams& p) {
  constexpr int kSteps = 10;  // int(max_shrink 0.5 * n_grid 20)
  constexpr int64_t kSampleTokens = 512, kRowBatch = 64;
  const int64_t g = p.group(k), ng = k / g;
  const int64_t step = std::max<int64_t>(1, t / kSampleTokens), ts = (t + step - 1) / step;
  std::vector<float> xg(static_cast<size_t>(ts * g)), d(static_cast<size_t>(kRowBatch * kSteps * g)),
      y(static_cast<size_t>(ts * kRowBatch * kSteps));
  std::vector<float> best(static_cast<size_t>(kRowBatch));
  for (int64_t j = 0; j < ng; ++j) {
    for (int64_t i = 0; i < ts; ++i) std::memcpy(&xg[static_cast<size_t>(i * g)], x + i * step * k + j * g, g * sizeof(float));
    for (int64_t r0 = 0; r0 < n; r0 += kRowBatch) {
      const int64_t nb = std::min(kRowBatch, n - r0);
      // d[(r, i)] = Q(clamp(w, ±max_i)) − w: the output error is x·d (linearity).
      parallel_for(0, nb, 4, [&](int64_t a, int64_t b) {
        std::vector<float> tmp(static_cast<size_t>(g));
        for (int64_t r = a; r < b; ++r) {
          const float* wr = w + (r0 + r) * k + j * g;
          float org_max = 0.0f;
          for (int64_t e = 0; e < g; ++e) org_max = std::max(org_max, std::fabs(wr[e]));
          for (int i = 0; i < kSteps; ++i) {
            const float mv = org_max * (1.0f - static_cast<float>(i) / 20.0f);
            for (int64_t e = 0; e < g; ++e) tmp[static_cast<size_t>(e)] = std::clamp(wr[e], -mv, mv);
            quant_group(tmp.data(), g, p, nullptr, nullptr, nullptr);
            float* dr = &d[static_cast<size_t>((r * kSteps + i) * g)];
            for (int64_t e = 0; e < g; ++e) dr[e] = tmp[static_cast<size_t>(e)] - wr[e];
          }
        }
      });
      ops::matmul_f32(xg.data(), d.data(), y.data(), ts, nb * kSteps, g);
      const int64_t cols = nb * kSteps;
      parallel_for(0, nb, 4, [&](int64_t a, int64_t b) {
        for (int64_t r = a; r < b; ++r) {
          float* wr = w + (r0 + r) * k + j * g;
          float org_max = 0.0f;
          for (int64_t e = 0; e < g; ++e) org_max = std::max(org_max, std::fabs(wr[e]));
          double min_err = 1e9;
          float best_max = org_max;
          for (int i = 0; i < kSteps; ++i) {
            double err = 0.0;
            for (int64_t tt = 0; tt < ts; ++tt) {
              const double v = y[static_cast<size_t>(tt * cols + r * kSteps + i)];
              err += v * v;
            }
            err /= static_cast<double>(ts);
            if (err < min_err) {
              min_err = err;
              best_max = org_max * (1.0f - static_cast<float>(i) / 20.0f);
            }
          }
          for (int64_t e = 0; e < g; ++e) wr[e] = std::clamp(wr[e], -best_max, best_max);
        }
      });
    }
  }
}

}  // namespace awqx::quant

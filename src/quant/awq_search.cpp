// Activation-aware scale search, scale application and weight-clipping search
// (awq-reference.md §2, §3), on one fp32 decoder layer.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <tuple>
#include <utility>

#include "awqx/parallel.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {
namespace {

// Mean |x| per input channel over all ranks' tokens (x_mean): per-block sums, gathered, added
// in block order.
std::vector<float> abs_mean_cols(const float* x, const Blocks& bl, int64_t k) {
  std::vector<double> mine(static_cast<size_t>(bl.count * k), 0.0);
  parallel_for(0, k, 32, [&](int64_t c0, int64_t c1) {
    for (int64_t b = 0; b < bl.count; ++b)
      for (int64_t r = b * bl.seqlen; r < (b + 1) * bl.seqlen; ++r)
        for (int64_t c = c0; c < c1; ++c) mine[static_cast<size_t>(b * k + c)] += std::fabs(x[r * k + c]);
  });
  const std::vector<double> all = bl.gather(mine);
  std::vector<double> sum(static_cast<size_t>(k), 0.0);
  for (int64_t b = 0; b < bl.total; ++b)
    for (int64_t c = 0; c < k; ++c) sum[static_cast<size_t>(c)] += all[static_cast<size_t>(b * k + c)];
  std::vector<float> out(static_cast<size_t>(k));
  for (int64_t c = 0; c < k; ++c)
    out[static_cast<size_t>(c)] = static_cast<float>(sum[static_cast<size_t>(c)] / static_cast<double>(bl.total * bl.seqlen));
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
  // Weights of fcs -> output of the inspected module for blocks [b0, b0 + nb), [nb*seqlen][h].
  std::function<void(const std::vector<MatOperand>&, int64_t b0, int64_t nb, float*)> inspect;
};

// Blocks [0, n_fit) are the fit set, [n_fit, n_blocks) the check set (empty: no validation).
struct Split {
  Blocks bl;
  int64_t n_fit, row_elems;  // row_elems: output elements per token
  int64_t n_blocks() const { return bl.total; }
  bool check() const { return n_fit < n_blocks(); }
  int64_t block_elems() const { return bl.seqlen * row_elems; }
  int64_t local_elems() const { return bl.count * block_elems(); }
};

// Loss of y against y_ref (this rank's blocks): {fit, check}; without a check set {all blocks,
// -1} (AutoAWQ's mse). Per-block sums of all ranks, added in block order.
std::pair<double, double> split_loss(const float* y_ref, const float* y, const Split& sp) {
  const std::vector<double> all = sp.bl.gather(block_sq_err(y_ref, y, sp.bl.count, sp.block_elems()));
  double fit = 0, check = 0;
  for (int64_t b = 0; b < sp.n_blocks(); ++b) (b < sp.n_fit ? fit : check) += all[static_cast<size_t>(b)];
  const double per = static_cast<double>(sp.block_elems());
  if (!sp.check()) return {fit / (per * sp.n_blocks()), -1.0};
  return {fit / (per * sp.n_fit), check / (per * (sp.n_blocks() - sp.n_fit))};
}

// Mean of fit and check losses weighted by their block counts (= the loss over all blocks).
double total_loss(double fit, double check, const Split& sp) {
  if (!sp.check()) return fit;
  return (fit * sp.n_fit + check * (sp.n_blocks() - sp.n_fit)) / sp.n_blocks();
}

// Returns the chosen scales; empty when s = 1 was chosen (or nothing could be evaluated).
// Fills rep's entries of group gi.
std::vector<float> search_scale(const LayerWeights& lw, const Group& gr, int64_t k, const AwqParams& p, const Split& sp,
                                int gi, AwqLayerReport& rep) {
  std::vector<const std::vector<float>*> ws;
  for (int l : gr.fcs) ws.push_back(&lw.w[l]);
  const std::vector<float> x_mean = abs_mean_cols(gr.x->data(), sp.bl, k);
  const std::vector<float> w_mean = weight_mean(ws, k, p.q.group(k));
  std::vector<MatOperand> orig;
  for (auto* w : ws) orig.emplace_back(w->data());
  const size_t out_elems = static_cast<size_t>(sp.local_elems());
  std::vector<float> y_ref(out_elems), y(out_elems);
  gr.inspect(orig, 0, sp.bl.count, y_ref.data());

  // Candidates in the precision the matmuls read: bf16 needs no fp32 copy at all.
  const bool bf16 = p.precision == MatPrecision::bf16;
  std::vector<std::vector<float>> cand(bf16 ? 0 : ws.size());
  std::vector<std::vector<uint16_t>> cand_bf16(bf16 ? ws.size() : 0);
  // Loss of the group with its weights replaced by Q(W·s)/s (s == nullptr: Q(W)).
  auto evaluate = [&](const float* sc) {
    std::vector<MatOperand> ops;
    for (size_t f = 0; f < ws.size(); ++f) {
      const int64_t n = static_cast<int64_t>(ws[f]->size()) / k;
      if (bf16) {
        cand_bf16[f].resize(ws[f]->size());
        fake_quantize_scaled(ws[f]->data(), n, k, sc, p.q, nullptr, cand_bf16[f].data());
        ops.emplace_back(nullptr, cand_bf16[f].data());
      } else {
        cand[f].resize(ws[f]->size());
        fake_quantize_scaled(ws[f]->data(), n, k, sc, p.q, cand[f].data(), nullptr);
        ops.emplace_back(cand[f].data());
      }
    }
    gr.inspect(ops, 0, sp.bl.count, y.data());
    return split_loss(y_ref.data(), y.data(), sp);
  };

  std::vector<float> best, s(static_cast<size_t>(k));
  double best_fit = std::numeric_limits<double>::infinity(), best_check = -1;
  int best_ratio = -1;
  double rtn_fit = -1, rtn_check = -1;
  bool fit_winner = false;  // some grid point beat s = 1 on the fit blocks
  const bool eval_identity = p.identity_scale || sp.check();
  if (eval_identity) {
    std::tie(rtn_fit, rtn_check) = evaluate(nullptr);
    if (p.identity_scale) best_fit = rtn_fit, best_check = rtn_check;
  }
  double best_total = total_loss(rtn_fit, rtn_check, sp);
  for (int j = 0; j < p.n_grid; ++j) {
    // Without duo scaling ratio 0 is s = x_mean^0 = 1 exactly: the identity, already evaluated.
    if (j == 0 && !p.duo_scaling && p.identity_scale) continue;
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
    const auto [fit, check] = evaluate(s.data());
    if (sp.check()) {
      // With a check set: the lowest loss over all blocks among the grid points that beat s = 1
      // on the fit blocks and on the check blocks (a scale that helps only on one half is noise).
      const bool beats_fit = fit < rtn_fit, beats_both = beats_fit && check < rtn_check;
      fit_winner = fit_winner || beats_fit;
      const double tot = total_loss(fit, check, sp);
      if (beats_both && tot < best_total) best_total = tot, best_fit = fit, best_check = check, best_ratio = j, best = s;
    } else if (fit < best_fit) {  // strict: the first of equal losses wins (identity first), as in AutoAWQ
      best_fit = fit;
      best_check = check;
      best_ratio = j;
      best = s;
    }
  }
  ScaleChoice choice = best_ratio >= 0 ? ScaleChoice::kRatio : ScaleChoice::kIdentity;
  if (best_ratio < 0 && fit_winner) choice = ScaleChoice::kIdentityByCheck;  // won on fit, not on check
  if (best_ratio < 0 && eval_identity) best_fit = rtn_fit, best_check = rtn_check;
  rep.choice[gi] = choice;
  rep.best_ratio[gi] = best_ratio;
  rep.rtn_fit[gi] = rtn_fit;
  rep.rtn_check[gi] = rtn_check;
  rep.fit[gi] = std::isfinite(best_fit) ? best_fit : -1;
  rep.check[gi] = best_check;
  rep.loss[gi] = std::isfinite(best_fit) ? total_loss(best_fit, best_check, sp) : std::numeric_limits<double>::infinity();
  return best;
}

}  // namespace

const char* const kGroupNames[kNumGroups] = {"qkv", "o", "gate_up", "down"};

void awq_scale_and_clip(LayerWeights& lw, const LayerShape& s, const ops::RopeTable& rope, LayerInputs& rec,
                        const Blocks& bl, const AwqParams& p, AwqLayerReport* report) {
  const int64_t n_blocks = bl.total, seqlen = bl.seqlen, h = s.hidden, qd = int64_t{s.n_heads} * s.head_dim;
  const int64_t n_check = n_blocks >= 2 ? std::clamp<int64_t>(p.n_check_blocks, 0, n_blocks - 1) : 0;
  const Split sp{bl, n_blocks - n_check, h};
  auto bias = [&](int l) { return lw.b[l].empty() ? nullptr : lw.b[l].data(); };
  const bool all_q = p.quantize[kQ] && p.quantize[kK] && p.quantize[kV];
  std::vector<float> s_qkv, s_o, s_mlp, s_down;
  AwqLayerReport rep;

  // During a group's scale search (bf16 precision) its recorded input and the weight it does
  // not vary are read unchanged at every grid point: rounded to bf16 once, here. Outside the
  // searches (clip checks, after the scales are applied) the closures get plain fp32 operands.
  struct FixedBf16 {
    std::vector<uint16_t> x, w;
    bool on = false;
  } fixed;
  auto prepare = [&](const std::vector<float>& x, const std::vector<float>* w) {
    fixed.on = p.precision == MatPrecision::bf16;
    if (!fixed.on) return;
    fixed.x.resize(x.size());
    round_bf16(x.data(), static_cast<int64_t>(x.size()), fixed.x.data());
    fixed.w.resize(w ? w->size() : 0);
    if (w) round_bf16(w->data(), static_cast<int64_t>(w->size()), fixed.w.data());
  };
  auto release = [&] { fixed = FixedBf16{}; };
  BlockScratch scratch;  // the inspected modules' activations, reused across grid points
  auto x_op = [&](const std::vector<float>& x, int64_t off) {
    return fixed.on ? MatOperand(x.data() + off, fixed.x.data() + off) : MatOperand(x.data() + off);
  };
  auto w_op = [&](const std::vector<float>& w) {
    return fixed.on ? MatOperand(w.data(), fixed.w.data()) : MatOperand(w.data());
  };

  // The four groups; the closures read the current rec and lw, so they stay valid after the
  // scales are applied (the scaled layer computes the same function).
  Group g_qkv{{kQ, kK, kV}, &rec.attn_in, [&](const std::vector<MatOperand>& w, int64_t b0, int64_t nb, float* out) {
                attn_block(x_op(rec.attn_in, b0 * seqlen * h), w[0], bias(kQ), w[1], bias(kK), w[2], bias(kV),
                           w_op(lw.w[kO]), s, rope, nb, seqlen, out, nullptr, p.precision, &scratch);
              }};
  Group g_o{{kO}, &rec.o_in, [&](const std::vector<MatOperand>& w, int64_t b0, int64_t nb, float* out) {
              search_matmul(x_op(rec.o_in, b0 * seqlen * qd), w[0], out, nb * seqlen, h, qd, p.precision, seqlen);
            }};
  Group g_mlp{{kGate, kUp}, &rec.mlp_in, [&](const std::vector<MatOperand>& w, int64_t b0, int64_t nb, float* out) {
                mlp_block(x_op(rec.mlp_in, b0 * seqlen * h), w[0], w[1], w_op(lw.w[kDown]), s, nb * seqlen, seqlen,
                          out, nullptr, p.precision, &scratch);
              }};
  Group g_down{{kDown}, &rec.down_in, [&](const std::vector<MatOperand>& w, int64_t b0, int64_t nb, float* out) {
                 search_matmul(x_op(rec.down_in, b0 * seqlen * s.inter), w[0], out, nb * seqlen, h, s.inter,
                               p.precision, seqlen);
               }};

  // 1. Searches, all on the original weights and recorded inputs (AutoAWQ order).
  if (all_q) {
    prepare(rec.attn_in, &lw.w[kO]);
    s_qkv = search_scale(lw, g_qkv, h, p, sp, kGroupQkv, rep);
  }
  // v_proj -> o_proj only without GQA (same weight shapes), as AutoAWQ.
  if (s.n_kv == s.n_heads && p.quantize[kO] && p.quantize[kV]) {
    prepare(rec.o_in, nullptr);
    s_o = search_scale(lw, g_o, qd, p, sp, kGroupO, rep);
  }
  if (p.quantize[kGate] && p.quantize[kUp]) {
    prepare(rec.mlp_in, &lw.w[kDown]);
    s_mlp = search_scale(lw, g_mlp, h, p, sp, kGroupGateUp, rep);
  }
  if (p.quantize[kDown]) {
    prepare(rec.down_in, nullptr);
    s_down = search_scale(lw, g_down, s.inter, p, sp, kGroupDown, rep);
  }
  release();
  for (int gi = 0; gi < kNumGroups; ++gi)
    if (rep.choice[gi] == ScaleChoice::kSkipped) rep.loss[gi] = 0;

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
    apply_fcs(s_o, {kO}, rec.o_in, qd);
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
  // With a check set: each (row, group) clip is chosen on fit tokens and kept only if the check
  // tokens agree; then the linear's clip as a whole is kept only if it lowers the loss of its
  // group's inspected module (all of the group's linears quantized) on the check blocks.
  if (p.apply_clip) {
    const std::pair<int, const Group*> clip[] = {{kV, &g_qkv}, {kO, &g_o}, {kGate, &g_mlp}, {kUp, &g_mlp}, {kDown, &g_down}};
    const int64_t t_fit = sp.n_fit * seqlen;
    // This rank's check blocks: local [lb0, bl.count).
    const int64_t lb0 = std::clamp<int64_t>(sp.n_fit - bl.first, 0, bl.count), lnb = bl.count - lb0;
    for (const auto& entry : clip) {
      const int l = entry.first;  // named copies: lambdas below capture them (clang 14)
      const Group* gr = entry.second;
      if (!p.quantize[l]) continue;
      const int64_t n = s.out_features(l), k = s.in_features(l);
      const float* x = gr->x->data();
      if (!sp.check()) {
        ClipStats st;
        clip_weight(lw.w[l].data(), n, k, x, bl, p.q, 0, &st, p.precision);
        rep.clip_kept[l] = st.kept, rep.clip_groups[l] = st.groups;
        continue;
      }
      const std::vector<float> unclipped = lw.w[l];
      ClipStats st;
      clip_weight(lw.w[l].data(), n, k, x, bl, p.q, t_fit, &st, p.precision);
      rep.clip_kept[l] = st.kept, rep.clip_reverted[l] = st.reverted, rep.clip_groups[l] = st.groups;
      if (st.kept == 0) continue;
      // Block check on the check blocks: FP reference, then the group quantized with/without this clip.
      const size_t out = static_cast<size_t>(lnb * sp.block_elems());
      std::vector<float> y_ref(out), y(out);
      std::vector<std::vector<float>> qw(gr->fcs.size());
      std::vector<MatOperand> ptrs;
      for (int fl : gr->fcs) ptrs.emplace_back(lw.w[fl].data());
      if (lnb > 0) gr->inspect(ptrs, lb0, lnb, y_ref.data());
      auto group_loss = [&](const std::vector<float>& wl) {
        for (size_t f = 0; f < gr->fcs.size(); ++f) {
          const int fl = gr->fcs[f];
          qw[f] = fl == l ? wl : lw.w[fl];
          if (p.quantize[fl]) pseudo_quantize(qw[f].data(), s.out_features(fl), s.in_features(fl), p.q);
          ptrs[f] = MatOperand(qw[f].data());
        }
        if (lnb > 0) gr->inspect(ptrs, lb0, lnb, y.data());
        double sum = 0;  // check blocks of all ranks, in block order
        for (double v : bl.gather(block_sq_err(y_ref.data(), y.data(), lnb, sp.block_elems()))) sum += v;
        return sum;
      };
      const double with_clip = group_loss(lw.w[l]), without = group_loss(unclipped);
      if (!(with_clip < without)) {
        lw.w[l] = unclipped;
        rep.clip_dropped[l] = true;
      }
    }
  }
  if (report) *report = rep;
}

}  // namespace awqx::quant

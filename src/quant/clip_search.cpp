// Weight-clipping search (awq-reference.md §2) for one linear, split over the ranks by weight
// group: every rank gathers the sampled tokens, searches its own groups, and all ranks apply
// the gathered choices, so the clamped weights are the same bytes on every rank.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "awqx/parallel.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {
namespace {

constexpr int kSteps = 10;  // int(max_shrink 0.5 * n_grid 20)
constexpr int64_t kSampleTokens = 512, kRowBatch = 64;

float step_max(float org_max, int i) { return org_max * (1.0f - static_cast<float>(i) / 20.0f); }

float abs_max(const float* w, int64_t g) {
  float m = 0.0f;
  for (int64_t e = 0; e < g; ++e) m = std::max(m, std::fabs(w[e]));
  return m;
}

struct Sampling {
  int64_t ts = 0, ts_fit = 0;  // sampled tokens; [0, ts_fit) come from the fit tokens
  bool check = false;
};

// The clip choices of rows [r0, r0 + nb) in group j: out[r] = {best step, AutoAWQ's best step}.
void search_rows(const float* w, int64_t k, int64_t j, int64_t r0, int64_t nb, const std::vector<float>& xs,
                 const Sampling& sm, const QParams& p, MatPrecision prec, uint8_t* out) {
  const int64_t g = p.group(k), ts = sm.ts, cols = nb * kSteps;
  thread_local std::vector<float> xg, d, y, tmp;
  xg.resize(static_cast<size_t>(ts * g));
  d.resize(static_cast<size_t>(cols * g));
  y.resize(static_cast<size_t>(ts * cols));
  tmp.resize(static_cast<size_t>(g));
  for (int64_t i = 0; i < ts; ++i) std::memcpy(&xg[static_cast<size_t>(i * g)], &xs[static_cast<size_t>(i * k + j * g)], g * sizeof(float));
  // d[(r, i)] = Q(clamp(w, ±max_i)) − w: the output error is x·d (linearity).
  for (int64_t r = 0; r < nb; ++r) {
    const float* wr = w + (r0 + r) * k + j * g;
    const float org_max = abs_max(wr, g);
    for (int i = 0; i < kSteps; ++i) {
      const float mv = step_max(org_max, i);
      for (int64_t e = 0; e < g; ++e) tmp[static_cast<size_t>(e)] = std::clamp(wr[e], -mv, mv);
      quant_group(tmp.data(), g, p, nullptr, nullptr, nullptr);
      float* dr = &d[static_cast<size_t>((r * kSteps + i) * g)];
      for (int64_t e = 0; e < g; ++e) dr[e] = tmp[static_cast<size_t>(e)] - wr[e];
    }
  }
  search_matmul(xg.data(), d.data(), y.data(), ts, cols, g, prec);
  // Squared output error per column (row, step), summed over the tokens in token order; the
  // fit part is the running sum after the last fit token. Row by row, so y streams once.
  thread_local std::vector<double> sum, sum_fit;
  sum.assign(static_cast<size_t>(cols), 0.0);
  sum_fit.assign(static_cast<size_t>(cols), 0.0);
  for (int64_t tt = 0; tt < ts; ++tt) {
    const float* yr = &y[static_cast<size_t>(tt * cols)];
    for (int64_t c = 0; c < cols; ++c) sum[static_cast<size_t>(c)] += static_cast<double>(yr[c]) * yr[c];
    if (tt + 1 == sm.ts_fit) sum_fit = sum;
  }
  for (int64_t r = 0; r < nb; ++r) {
    double min_err = 1e9, min_err_any = 1e9, fit0 = 0, check0 = 0;
    int best = 0, best_any = 0;  // best_any: AutoAWQ's choice, ignoring the check
    for (int i = 0; i < kSteps; ++i) {
      const size_t c = static_cast<size_t>(r * kSteps + i);
      double err = sum[c];
      const double err_fit = sum_fit[c], err_check = err - err_fit;
      err /= static_cast<double>(ts);
      if (i == 0) fit0 = err_fit, check0 = err_check;
      if (err < min_err_any) min_err_any = err, best_any = i;
      // With a check set a clip must beat no clip (step 0) on the fit and the check tokens.
      if (sm.check && i > 0 && !(err_fit < fit0 && err_check < check0)) continue;
      if (err < min_err) min_err = err, best = i;
    }
    out[2 * r] = static_cast<uint8_t>(best);
    out[2 * r + 1] = static_cast<uint8_t>(best_any);
  }
}

}  // namespace

void clip_weight(float* w, int64_t n, int64_t k, const float* x, const Blocks& bl, const QParams& p, int64_t t_fit,
                 ClipStats* stats, MatPrecision prec) {
  const int64_t g = p.group(k), ng = k / g, t = bl.total * bl.seqlen;
  const int64_t step = std::max<int64_t>(1, t / kSampleTokens);
  Sampling sm;
  sm.ts = (t + step - 1) / step;
  sm.check = t_fit > 0 && t_fit < t;
  sm.ts_fit = sm.check ? (t_fit + step - 1) / step : sm.ts;
  // Every step-th token of all ranks, gathered in token order: [ts][k] on every rank.
  const int64_t first_row = bl.first * bl.seqlen, end_row = first_row + bl.rows();
  std::vector<float> mine;
  for (int64_t i = (first_row + step - 1) / step; i * step < end_row; ++i)
    mine.insert(mine.end(), x + (i * step - first_row) * k, x + (i * step - first_row + 1) * k);
  const std::vector<float> xs = bl.gather(mine);

  const Share groups = share_of(ng, bl.group().rank(), bl.group().size());
  const int64_t batches = (n + kRowBatch - 1) / kRowBatch;
  std::vector<uint8_t> choice(static_cast<size_t>(groups.count() * n * 2));  // [group][row]{best, best_any}
  parallel_for_rethrow(0, groups.count() * batches, 1, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t jl = u / batches, r0 = u % batches * kRowBatch;
      search_rows(w, k, groups.begin + jl, r0, std::min(kRowBatch, n - r0), xs, sm, p, prec,
                  &choice[static_cast<size_t>((jl * n + r0) * 2)]);
    }
  });
  const std::vector<uint8_t> all = bl.gather(choice);
  int64_t kept = 0, reverted = 0;
  parallel_for(0, n, 16, [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r)
      for (int64_t j = 0; j < ng; ++j) {
        float* wr = w + r * k + j * g;
        const float mv = step_max(abs_max(wr, g), all[static_cast<size_t>((j * n + r) * 2)]);
        for (int64_t e = 0; e < g; ++e) wr[e] = std::clamp(wr[e], -mv, mv);
      }
  });
  for (int64_t i = 0; i < ng * n; ++i) {
    kept += all[static_cast<size_t>(2 * i)] != 0;
    reverted += all[static_cast<size_t>(2 * i)] != all[static_cast<size_t>(2 * i + 1)];
  }
  if (stats) *stats = ClipStats{kept, reverted, n * ng};
}

}  // namespace awqx::quant

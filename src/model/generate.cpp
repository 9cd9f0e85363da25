// Sampling loop and perplexity (include/awqx/generate.hpp).
#include "awqx/generate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "awqx/comm.hpp"
#include "awqx/error.hpp"
#include "model/ops.hpp"

namespace awqx {
namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  float bv = -INFINITY;
  bool found = false;
  for (int64_t i = 0; i < n; ++i)
    if (!found ? !std::isnan(logits[i]) : logits[i] > bv) {  // strict >: the lowest id wins ties
      best = i;
      bv = logits[i];
      found = true;
    }
  return static_cast<int32_t>(best);
}

Sampler::Sampler(int64_t vocab, const SamplingOptions& opts) : vocab_(vocab), opts_(opts), rng_(opts.seed) {
  if (!(opts.temperature >= 0) || !std::isfinite(opts.temperature))
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--temperature", "a finite value >= 0",
                          fmt::format("{}", opts.temperature));
  if (!(opts.top_p > 0) || std::isnan(opts.top_p))
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--top-p", "a value in (0, 1]", fmt::format("{}", opts.top_p));
  cand_.reserve(static_cast<size_t>(vocab));
}

int32_t Sampler::sample(const float* logits) {
  if (opts_.temperature == 0.0f) return argmax(logits, vocab_);
  // Softmax at temperature T over the candidates, then top-k, then nucleus (top-p) cut, as
  // llama.cpp / HF do (k first, then p on the renormalized survivors).
  cand_.clear();
  const float inv_t = 1.0f / opts_.temperature;
  for (int64_t i = 0; i < vocab_; ++i)
    if (!std::isnan(logits[i])) cand_.emplace_back(logits[i] * inv_t, static_cast<int32_t>(i));
  if (cand_.empty()) return 0;
  auto by_prob = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = cand_.size();
  if (opts_.top_k > 0 && static_cast<size_t>(opts_.top_k) < keep) {
    keep = static_cast<size_t>(opts_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(keep), cand_.end(), by_prob);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_prob);
  }
  const float mx = cand_[0].first;
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cand_[i].first = std::exp(cand_[i].first - mx);
    sum += cand_[i].first;
  }
  if (opts_.top_p < 1.0f) {
    double cum = 0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cum += cand_[i].first / sum;
      if (cum >= opts_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    sum = 0;
    for (size_t i = 0; i < keep; ++i) sum += cand_[i].first;
  }
  // 53 random bits → u in [0, 1): the same stream on every platform (unlike std distributions).
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * sum;
  double acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += cand_[i].first;
    if (u < acc) return cand_[i].second;
  }
  return cand_[keep - 1].second;
}

GenerateStats generate(Model& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt_ids,
                       int64_t max_new_tokens, const SamplingOptions& opts,
                       const std::function<bool(int32_t)>& on_token) {
  if (prompt_ids.empty())
    throw Error::mismatch(ErrorCode::invalid_argument, "", "prompt", "at least one token", "an empty prompt");
  if (static_cast<int64_t>(prompt_ids.size()) > model.max_seq_len())
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--max-seq-len",
                          fmt::format("a prompt of at most {} tokens (KV cache capacity)", model.max_seq_len()),
                          fmt::format("{} tokens", prompt_ids.size()));
  GenerateStats st;
  st.prompt_tokens = static_cast<int64_t>(prompt_ids.size());
  Sampler sampler(model.vocab_size(), opts);
  std::vector<float> logits(static_cast<size_t>(model.vocab_size()));
  model.reset();
  const double t0 = now_s();
  model.forward(prompt_ids.data(), st.prompt_tokens, logits.data(), false);
  const double t1 = now_s();
  st.prefill_seconds = t1 - t0;
  double t_first = t1;
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    const int32_t next = sampler.sample(logits.data());
    ++st.generated_tokens;
    if (i == 0) t_first = now_s();
    const bool go_on = on_token ? on_token(next) : true;
    if (tokenizer.is_eos(next)) {
      st.stopped_eos = true;
      break;
    }
    if (!go_on) break;
    if (i + 1 == max_new_tokens) {
      st.stopped_length = true;
      break;
    }
    if (model.n_past() >= model.max_seq_len()) {
      st.stopped_length = true;
      break;
    }
    model.forward(&next, 1, logits.data(), false);
  }
  st.decode_seconds = now_s() - t_first;
  return st;
}

PplResult perplexity(Model& model, const std::vector<int32_t>& tokens, const PplOptions& opts,
                     const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t ctx = opts.ctx;
  if (ctx < 2 || ctx > model.max_seq_len())
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--ctx",
                          fmt::format("2 <= ctx <= {} (KV cache capacity)", model.max_seq_len()), std::to_string(ctx));
  if (opts.max_windows < 0)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--max-windows", ">= 0", std::to_string(opts.max_windows));
  int64_t windows = static_cast<int64_t>(tokens.size()) / ctx;
  if (windows == 0)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--data", fmt::format("at least {} tokens (--ctx)", ctx),
                          fmt::format("{} tokens", tokens.size()));
  if (opts.max_windows > 0) windows = std::min(windows, opts.max_windows);
  const int64_t vocab = model.vocab_size();
  const int64_t chunk = model.chunk_size();
  std::vector<float> logits(static_cast<size_t>(chunk * vocab));
  PplResult res;
  const double t0 = now_s();
  // Each rank scores its share of the windows; the per-window sums of all ranks are added in
  // window order, so the result is the same for any number of ranks.
  Comm& comm = opts.comm ? *opts.comm : local_comm();
  const Share mine = share_of(windows, comm.rank(), comm.size());
  std::vector<double> nll(static_cast<size_t>(mine.count()), 0.0);
  for (int64_t w = mine.begin; w < mine.end; ++w) {
    const int32_t* win = tokens.data() + w * ctx;
    double& window_nll = nll[static_cast<size_t>(w - mine.begin)];
    model.reset();
    // The window in chunks of the model's batch: prediction j (logits of token j) scores token j+1.
    for (int64_t off = 0; off < ctx; off += chunk) {
      const int64_t mc = std::min(chunk, ctx - off);
      model.forward(win + off, mc, logits.data(), true);
      for (int64_t r = 0; r < mc; ++r) {
        const int64_t j = off + r;
        if (j + 1 >= ctx) break;
        window_nll -= ops::log_prob(logits.data() + r * vocab, vocab, win[j + 1]);
      }
    }
    if (progress) progress(w + 1 - mine.begin, mine.count());
  }
  for (double v : allgather_values(comm, nll)) res.nll_sum += v;
  res.windows = windows;
  res.tokens = windows * (ctx - 1);
  res.seconds = now_s() - t0;
  res.ppl = std::exp(res.nll_sum / static_cast<double>(res.tokens));
  return res;
}

}  // namespace awqx

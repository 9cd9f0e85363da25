// Text generation (sampling loop) and perplexity evaluation on top of awqx::Model.
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "awqx/model.hpp"
#include "awqx/tokenizer.hpp"

namespace awqx {

struct SamplingOptions {
  float temperature = 0.8f;  // 0 = greedy (argmax, lowest id on ties), deterministic
  int top_k = 40;            // <= 0: no top-k cut
  float top_p = 0.95f;       // >= 1: no nucleus cut
  uint64_t seed = 0x5eed;    // same seed + same model + same prompt = same tokens
};

// Picks the next token from a logits row. Owns its scratch buffers (no allocation per token after
// the first call). Not thread-safe.
class Sampler {
 public:
  Sampler(int64_t vocab, const SamplingOptions& opts);
  int32_t sample(const float* logits);

 private:
  int64_t vocab_;
  SamplingOptions opts_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;
};

// Lowest id among the maxima (NaN never wins).
int32_t argmax(const float* logits, int64_t n);

struct GenerateStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;  // from the first token after the prompt to the last
  bool stopped_eos = false;
  bool stopped_length = false;  // max_new_tokens reached or KV cache full
  double prefill_tok_s() const { return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0; }
  // Decode speed over the tokens that needed a forward pass of their own (all but the first).
  double decode_tok_s() const {
    return decode_seconds > 0 && generated_tokens > 1 ? (generated_tokens - 1) / decode_seconds : 0;
  }
};

// Resets the model, prefills prompt_ids (non-empty) and generates up to max_new_tokens tokens,
// calling on_token(id) for each (EOS included; returning false stops). Stops at EOS
// (tokenizer.is_eos) or when the KV cache is full.
// Throws Error{invalid_argument} if prompt_ids is empty or longer than model.max_seq_len().
GenerateStats generate(Model& model, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt_ids,
                       int64_t max_new_tokens, const SamplingOptions& opts,
                       const std::function<bool(int32_t)>& on_token);

class Comm;  // awqx/comm.hpp

struct PplOptions {
  int64_t ctx = 512;        // window length in tokens
  int64_t max_windows = 0;  // 0 = all windows
  // Ranks splitting the windows (every rank calls perplexity with the same arguments and gets
  // the same result, identical for any number of ranks); nullptr = this process alone.
  Comm* comm = nullptr;
};

struct PplResult {
  double ppl = 0;        // exp(nll_sum / tokens)
  double nll_sum = 0;    // sum of -log p over all predictions (nats)
  int64_t tokens = 0;    // number of predictions = windows * (ctx - 1)
  int64_t windows = 0;
  double seconds = 0;
};

// The AWQ paper's WikiText-2 method: `tokens` is the whole file tokenized once (BOS at start);
// it is cut into floor(size / ctx) non-overlapping windows of ctx tokens; each window runs on an
// empty KV cache and contributes the NLL of its ctx-1 next-token predictions. progress(done,
// total) is called after each window (of this rank's share). Throws Error{invalid_argument} if ctx < 2, ctx >
// model.max_seq_len(), or fewer than ctx tokens are given.
PplResult perplexity(Model& model, const std::vector<int32_t>& tokens, const PplOptions& opts,
                     const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace awqx

// Whole-model speed: prefill and greedy decode tokens/s of a model folder, against the memory
// bandwidth bound measured in the same process (decode at batch 1 reads every weight once per
// token, so bound tok/s = read bandwidth / weight bytes per token).
// Every CLI flag of `awqx bench` is a field of BenchOptions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "awqx/kv_cache.hpp"
#include <vector>

#include <nlohmann/json.hpp>

namespace awqx {

struct BenchOptions {
  int64_t prompt_tokens = 512;  // random (seeded) ids, one prefill per repeat
  int64_t gen_tokens = 128;     // greedy decode steps (batch 1) per repeat
  int repeats = 5;
  int warmup = 1;               // untimed repeats first (page in mmapped weights, warm caches)
  std::string backend;          // "" = registry's choice; else a kernel forced for every int4 linear
  int threads = 0;              // 0 = physical cores
  bool fuse_layers = true;      // false = --no-fuse
  KvType kv_type = KvType::f16;  // KV cache element type (--kv-type)
  int64_t step_tokens = 0;      // tokens per forward step (--step-tokens; 0 = the model's default)
  uint64_t seed = 1;            // prompt ids
  std::string json_path;        // "" = no JSON file
  // --batch N > 1: per repeat also decode N sequences together (own random prompts of
  // prompt_tokens, gen_tokens steps of one token each) through Model::forward_batch over a paged
  // pool: the server engine's decode step without scheduling or HTTP. N <= the step size.
  int64_t batch = 1;
};

struct BenchStat {
  double median = 0, min = 0, max = 0;
};

struct BenchResult {
  std::string model_dir, architecture, weights;  // weights: "bf16", "int4 g128", ...
  std::string kernels;                           // Model::describe() summary
  int threads = 0;
  BenchOptions opts;
  double load_seconds = 0;
  std::vector<double> prefill_tok_s, decode_tok_s;  // per timed repeat
  BenchStat prefill, decode;                        // tokens/s
  std::vector<double> batch_decode_tok_s;           // --batch > 1: tokens/s over all sequences, per repeat
  BenchStat batch_decode;
  double batch_vs_single = 0;                       // batch_decode.median / decode.median
  size_t weight_bytes_per_token = 0;                // Model::weight_bytes()
  size_t kv_cache_bytes = 0;                        // allocated (prompt + gen positions)
  std::string kv_type;                              // KV element type (f32, f16, bf16)
  int64_t step_tokens = 0;                          // tokens per forward step used (prefill chunk)
  // K and V read per decoded token at the mean context of the decode steps (attention reads
  // every cached position of every layer once per token).
  size_t kv_bytes_per_token = 0;
  size_t bytes_per_token = 0;                       // weights + kv
  double read_bandwidth_gbs = 0;                    // measured in this run (median chunk), 1e9 bytes/s
  double bound_tok_s = 0;                           // bandwidth / bytes_per_token
  double weights_only_bound_tok_s = 0;              // bandwidth / weight bytes (ignores the KV cache)
  double decode_pct_of_bound = 0;                   // 100 * decode median / bound
  size_t rss_bytes = 0;                             // resident set after the runs (weights paged in)
  size_t peak_rss_bytes = 0;
  size_t load_rss_bytes = 0;       // resident set right after Model::load (steady size of the model)
  size_t load_peak_rss_bytes = 0;  // peak resident set up to then (the load's peak, incl. process start)
  nlohmann::json to_json() const;
  std::string summary() const;  // readable multi-line report
};

// Progress lines ("warmup 1/1", "repeat 2/5: prefill ... decode ...") for stderr.
using BenchProgressFn = std::function<void(const std::string&)>;

// Loads dir, measures, writes opts.json_path atomically when set. Throws Error{invalid_argument}
// (prompt_tokens < 1, gen_tokens < 1, repeats < 1, warmup < 0, threads < 0, batch < 1 or above
// the step size), plus Model::load's errors.
BenchResult bench_model(const std::string& dir, const BenchOptions& opts, const BenchProgressFn& progress = {});

// Resident set size of this process now (/proc/self/statm), bytes; 0 if unavailable.
size_t current_rss_bytes();

}  // namespace awqx

// Whole-model benchmark (include/awqx/bench_model.hpp).
// Per repeat: reset the KV cache, prefill the prompt in one forward() (the model chunks it
// internally, so this is the GEMM path), then gen_tokens greedy decode steps of one token each
// (the GEMV path), each timed as a whole. The first decoded token comes from the prefill logits,
// so every timed decode step is one full forward pass reading all weights once. --batch N adds,
// per repeat, N sequences decoded together (BatchedDecode).
#include "awqx/bench_model.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/generate.hpp"
#include "awqx/model.hpp"
#include "awqx/parallel.hpp"
#include "awqx/quantize.hpp"
#include "awqx/roofline.hpp"

namespace awqx {
namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

BenchStat stat_of(std::vector<double> v) {
  BenchStat s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}

void check_opts(const BenchOptions& o) {
  auto bad = [](const char* flag, const std::string& want, auto v) {
    return Error::mismatch(ErrorCode::invalid_argument, "", flag, want, std::to_string(v));
  };
  if (o.prompt_tokens < 1) throw bad("--prompt-tokens", ">= 1", o.prompt_tokens);
  if (o.gen_tokens < 1) throw bad("--gen-tokens", ">= 1", o.gen_tokens);
  if (o.repeats < 1) throw bad("--repeats", ">= 1", o.repeats);
  if (o.warmup < 0) throw bad("--warmup", ">= 0", o.warmup);
  if (o.threads < 0) throw bad("--threads", ">= 0 (0 = physical cores)", o.threads);
  if (o.batch < 1) throw bad("--batch", ">= 1", o.batch);
}

// --batch: `batch` sequences with their own random prompts, prefilled one after another into a
// paged pool (untimed), then gen_tokens timed steps of one token per sequence through
// forward_batch, as the engine runs a full decode batch. Blocks are assigned statically.
class BatchedDecode {
 public:
  BatchedDecode(Model& model, const BenchOptions& o) : model_(model), o_(o) {
    const int64_t ctx = o.prompt_tokens + o.gen_tokens;
    per_seq_ = (ctx + kBlock - 1) / kBlock;
    pool_ = model.make_kv_pool(o.batch * per_seq_, kBlock);
    tables_.resize(static_cast<size_t>(o.batch));
    for (int64_t b = 0; b < o.batch; ++b)
      for (int64_t i = 0; i < per_seq_; ++i)
        tables_[static_cast<size_t>(b)].push_back(static_cast<int32_t>(b * per_seq_ + i));
    logits_.resize(static_cast<size_t>(o.batch * model.vocab_size()));
  }

  // Tokens/s over all sequences of the decode steps.
  double run(std::mt19937_64& rng) {
    const int64_t B = o_.batch, P = o_.prompt_tokens, V = model_.vocab_size();
    std::vector<int32_t> next(static_cast<size_t>(B)), prompt(static_cast<size_t>(P));
    for (int64_t b = 0; b < B; ++b) {
      for (auto& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(V));
      for (int64_t off = 0; off < P; off += model_.chunk_size()) {
        const int64_t m = std::min(model_.chunk_size(), P - off);
        const SeqChunk c{prompt.data() + off, m, off, table(b), off + m == P};
        model_.forward_batch(&c, 1, *pool_, logits_.data());
      }
      next[static_cast<size_t>(b)] = argmax(logits_.data(), V);
    }
    std::vector<SeqChunk> step(static_cast<size_t>(B));
    const auto t0 = Clock::now();
    for (int64_t s = 0; s < o_.gen_tokens; ++s) {
      for (int64_t b = 0; b < B; ++b)
        step[static_cast<size_t>(b)] = SeqChunk{&next[static_cast<size_t>(b)], 1, P + s, table(b), true};
      model_.forward_batch(step.data(), B, *pool_, logits_.data());
      for (int64_t b = 0; b < B; ++b) next[static_cast<size_t>(b)] = argmax(logits_.data() + b * V, V);
    }
    return double(B * o_.gen_tokens) / seconds_since(t0);
  }

 private:
  static constexpr int64_t kBlock = 16;  // the server's default block size
  const int32_t* table(int64_t b) const { return tables_[static_cast<size_t>(b)].data(); }
  Model& model_;
  const BenchOptions& o_;
  int64_t per_seq_ = 0;
  std::unique_ptr<KvPool> pool_;
  std::vector<std::vector<int32_t>> tables_;
  std::vector<float> logits_;
};
}  // namespace

size_t current_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? static_cast<size_t>(resident) * static_cast<size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

BenchResult bench_model(const std::string& dir, const BenchOptions& opts, const BenchProgressFn& progress) {
  check_opts(opts);
  set_num_threads(opts.threads);
  BenchResult r;
  r.opts = opts;
  r.model_dir = dir;
  r.threads = num_threads();

  LoadOptions lo;
  lo.backend = opts.backend;
  lo.fuse_layers = opts.fuse_layers;
  lo.kv_type = opts.kv_type;
  lo.step_tokens = opts.step_tokens;
  lo.max_seq_len = opts.prompt_tokens + opts.gen_tokens;  // what the run needs, not the config's 4k+
  const auto tl = Clock::now();
  auto model = Model::load(dir, lo);
  r.load_seconds = seconds_since(tl);
  r.load_rss_bytes = current_rss_bytes();
  r.load_peak_rss_bytes = peak_rss_bytes();
  const ModelConfig& c = model->config();
  r.architecture = c.architecture;
  r.weights = c.quant.present ? fmt::format("int4 g{}", c.quant.group_size) : c.torch_dtype;
  r.kernels = model->describe();
  r.weight_bytes_per_token = model->weight_bytes();
  r.kv_cache_bytes = model->kv_cache_bytes();
  r.kv_type = kv_type_name(model->kv_type());
  r.step_tokens = model->chunk_size();
  if (opts.batch > model->chunk_size())
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--batch",
                          fmt::format("<= the step size {} (one token per sequence per step)", model->chunk_size()),
                          std::to_string(opts.batch));
  std::unique_ptr<BatchedDecode> batched = opts.batch > 1 ? std::make_unique<BatchedDecode>(*model, opts) : nullptr;

  std::mt19937_64 rng(opts.seed);
  std::vector<int32_t> prompt(static_cast<size_t>(opts.prompt_tokens));
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(model->vocab_size()));
  std::vector<float> logits(static_cast<size_t>(model->vocab_size()));

  auto one = [&](double& prefill_s, double& decode_s) {
    model->reset();
    auto t0 = Clock::now();
    model->forward(prompt.data(), opts.prompt_tokens, logits.data(), false);
    prefill_s = seconds_since(t0);
    int32_t next = argmax(logits.data(), model->vocab_size());
    t0 = Clock::now();
    for (int64_t i = 0; i < opts.gen_tokens; ++i) {
      model->forward(&next, 1, logits.data(), false);
      next = argmax(logits.data(), model->vocab_size());
    }
    decode_s = seconds_since(t0);
  };
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };

  for (int w = 0; w < opts.warmup; ++w) {
    double p = 0, d = 0;
    one(p, d);
    say(fmt::format("warmup {}/{}: prefill {:.1f} tok/s, decode {:.2f} tok/s", w + 1, opts.warmup,
                    opts.prompt_tokens / p, opts.gen_tokens / d));
    if (batched)
      say(fmt::format("warmup {}/{}: batch {} decode {:.2f} tok/s", w + 1, opts.warmup, opts.batch, batched->run(rng)));
  }
  // Bandwidth after the warmup (the weights are paged in) and before the timed runs, with the
  // same thread count, so bound and measurement see the same machine state.
  r.read_bandwidth_gbs = measure_read_bandwidth_gbs();
  say(fmt::format("read bandwidth: {:.2f} GB/s ({} threads)", r.read_bandwidth_gbs, r.threads));
  for (int i = 0; i < opts.repeats; ++i) {
    double p = 0, d = 0;
    one(p, d);
    r.prefill_tok_s.push_back(opts.prompt_tokens / p);
    r.decode_tok_s.push_back(opts.gen_tokens / d);
    say(fmt::format("repeat {}/{}: prefill {:.1f} tok/s, decode {:.2f} tok/s", i + 1, opts.repeats,
                    r.prefill_tok_s.back(), r.decode_tok_s.back()));
    if (batched) {
      r.batch_decode_tok_s.push_back(batched->run(rng));
      say(fmt::format("repeat {}/{}: batch {} decode {:.2f} tok/s", i + 1, opts.repeats, opts.batch,
                      r.batch_decode_tok_s.back()));
    }
  }
  r.prefill = stat_of(r.prefill_tok_s);
  r.decode = stat_of(r.decode_tok_s);
  r.batch_decode = stat_of(r.batch_decode_tok_s);
  r.batch_vs_single = batched && r.decode.median > 0 ? r.batch_decode.median / r.decode.median : 0;
  // Decode step i attends over prompt + i + 1 positions; the mean over the steps sets the KV bytes.
  const double mean_ctx = double(opts.prompt_tokens) + double(opts.gen_tokens + 1) / 2.0;
  r.kv_bytes_per_token = static_cast<size_t>(double(model->kv_bytes_per_token()) * mean_ctx);
  r.bytes_per_token = r.weight_bytes_per_token + r.kv_bytes_per_token;
  r.bound_tok_s = r.read_bandwidth_gbs * 1e9 / static_cast<double>(r.bytes_per_token);
  r.weights_only_bound_tok_s = r.read_bandwidth_gbs * 1e9 / static_cast<double>(r.weight_bytes_per_token);
  r.decode_pct_of_bound = r.bound_tok_s > 0 ? 100.0 * r.decode.median / r.bound_tok_s : 0;
  r.rss_bytes = current_rss_bytes();
  r.peak_rss_bytes = peak_rss_bytes();
  if (!opts.json_path.empty()) write_file_atomic(opts.json_path, r.to_json().dump(2) + "\n");
  return r;
}

nlohmann::json BenchResult::to_json() const {
  auto st = [](const BenchStat& s) { return nlohmann::json{{"median", s.median}, {"min", s.min}, {"max", s.max}}; };
  return {{"model", model_dir},
          {"architecture", architecture},
          {"weights", weights},
          {"threads", threads},
          {"backend", opts.backend.empty() ? "auto" : opts.backend},
          {"fused", opts.fuse_layers},
          {"prompt_tokens", opts.prompt_tokens},
          {"gen_tokens", opts.gen_tokens},
          {"repeats", opts.repeats},
          {"warmup", opts.warmup},
          {"seed", opts.seed},
          {"load_seconds", load_seconds},
          {"prefill_tok_s", st(prefill)},
          {"decode_tok_s", st(decode)},
          {"prefill_tok_s_runs", prefill_tok_s},
          {"decode_tok_s_runs", decode_tok_s},
          {"weight_bytes_per_token", weight_bytes_per_token},
          {"kv_bytes_per_token", kv_bytes_per_token},
          {"bytes_per_token", bytes_per_token},
          {"weights_only_bound_tok_s", weights_only_bound_tok_s},
          {"read_bandwidth_gbs", read_bandwidth_gbs},
          {"bound_tok_s", bound_tok_s},
          {"decode_pct_of_bound", decode_pct_of_bound},
          {"kv_cache_bytes", kv_cache_bytes},
          {"kv_type", kv_type},
          {"step_tokens", step_tokens},
          {"batch", opts.batch},
          {"batch_decode_tok_s", st(batch_decode)},
          {"batch_decode_tok_s_runs", batch_decode_tok_s},
          {"batch_vs_single", batch_vs_single},
          {"rss_bytes", rss_bytes},
          {"peak_rss_bytes", peak_rss_bytes},
          {"load_rss_bytes", load_rss_bytes},
          {"load_peak_rss_bytes", load_peak_rss_bytes},
          {"kernels", kernels}};
}

std::string BenchResult::summary() const {
  const double mib = 1048576.0;
  // The kernels layer 0's first linear runs with (decode: gemv; prefill: gemm; small batches), as
  // Model::describe() reports them.
  std::string kernel_line;
  for (size_t a = 0, b; a < kernels.size(); a = b + 1) {
    b = kernels.find('\n', a);
    if (b == std::string::npos) b = kernels.size();
    const std::string line = kernels.substr(a, b - a);
    if (line.rfind("layer 0 ", 0) == 0) {
      kernel_line = "kernels    " + line + "\n";
      break;
    }
  }
  const std::string batch_line =
      opts.batch > 1
          ? fmt::format("batch {}    decode {:.2f} tok/s median over all sequences (min {:.2f}, max {:.2f}) = {:.2f}x "
                        "batch 1; step {:.1f} ms vs {:.1f} ms\n",
                        opts.batch, batch_decode.median, batch_decode.min, batch_decode.max, batch_vs_single,
                        batch_decode.median > 0 ? 1e3 * double(opts.batch) / batch_decode.median : 0.0,
                        decode.median > 0 ? 1e3 / decode.median : 0.0)
          : std::string();
  return kernel_line + fmt::format(
      "model      {} ({}, {})\n"
      "threads    {}, backend {}, {}\n"
      "prefill    {:.1f} tok/s median (min {:.1f}, max {:.1f}) over {} x {} tokens, steps of {}\n"
      "decode     {:.2f} tok/s median (min {:.2f}, max {:.2f}) over {} x {} tokens\n"
      "bytes      {:.1f} MiB read per decoded token: weights {:.1f} MiB + KV cache {:.1f} MiB\n"
      "bandwidth  {:.2f} GB/s measured -> bound {:.2f} tok/s; decode = {:.0f}% of bound ({:.0f}% of the "
      "weights-only bound {:.2f})\n"
      "memory     RSS {:.0f} MiB (peak {:.0f} MiB), KV cache {:.1f} MiB, load {:.2f} s\n"
      "load       RSS {:.0f} MiB after load, peak {:.0f} MiB during it ({:.2f}x)\n",
      model_dir, architecture, weights, threads, opts.backend.empty() ? "auto" : opts.backend,
      opts.fuse_layers ? "fused" : "not fused", prefill.median, prefill.min, prefill.max, opts.repeats,
      opts.prompt_tokens, step_tokens, decode.median, decode.min, decode.max, opts.repeats, opts.gen_tokens,
      bytes_per_token / mib, weight_bytes_per_token / mib, kv_bytes_per_token / mib, read_bandwidth_gbs,
      bound_tok_s, decode_pct_of_bound,
      weights_only_bound_tok_s > 0 ? 100.0 * decode.median / weights_only_bound_tok_s : 0.0,
      weights_only_bound_tok_s, rss_bytes / mib,
      peak_rss_bytes / mib, kv_cache_bytes / mib, load_seconds, load_rss_bytes / mib, load_peak_rss_bytes / mib,
      load_rss_bytes > 0 ? double(load_peak_rss_bytes) / double(load_rss_bytes) : 0.0) + batch_line;
}

}  // namespace awqx

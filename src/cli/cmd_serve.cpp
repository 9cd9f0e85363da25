// `awqx serve`: loads a model, starts the continuous-batching engine and serves it over an
// OpenAI-compatible HTTP API until SIGINT/SIGTERM (then exits 0 after a grace period).
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "awqx/engine.hpp"
#include "awqx/error.hpp"
#include "awqx/kv_cache.hpp"
#include "awqx/model.hpp"
#include "awqx/serve.hpp"
#include "awqx/tokenizer.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"

namespace awqx::cli {
namespace {

struct ServeFlags {
  RunFlags run;
  std::string model, kv_type;  // "" = LoadOptions default
  int64_t max_seq_len = 0, max_body_kb = 1024, step_tokens = 0;
  bool no_prefix_cache = false;
  EngineOptions engine;
  ServeOptions serve;
};

void run_serve(ServeFlags& f) {
  apply_run_flags(f.run);
  if (f.serve.api_key.empty())
    if (const char* k = std::getenv("AWQX_API_KEY")) f.serve.api_key = k;
  if (f.max_body_kb <= 0) throw Error(ErrorCode::invalid_argument, "", "--max-body-kb", "must be > 0");
  f.serve.max_body_bytes = static_cast<size_t>(f.max_body_kb) * 1024;
  f.engine.prefix_cache = !f.no_prefix_cache;
  LoadOptions lo;
  lo.backend = f.run.backend;
  lo.max_seq_len = f.max_seq_len;
  lo.step_tokens = f.step_tokens;
  if (!f.kv_type.empty()) lo.kv_type = parse_kv_type(f.kv_type, "--kv-type");
  const auto tok = Tokenizer::load(f.model);
  ProgressLine load_progress("loading layer");
  lo.progress = [&](int64_t d, int64_t t) { load_progress(d, t); };
  auto model = Model::load(f.model, lo);
  load_progress.done();
  Engine engine(*model, *tok, f.engine);
  f.serve.on_listening = [](const std::string& host, int port) {
    std::fprintf(stderr, "listening on http://%s:%d\n", host.c_str(), port);
    std::fflush(stderr);
  };
  run_server(engine, *tok, f.model, f.serve);
  std::fprintf(stderr, "awqx serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (continuous batching)");
  cmd->add_option("--model", f->model, "model folder (HF or AutoAWQ)")->required();
  cmd->add_option("--host", f->serve.host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", f->serve.port, "TCP port (0 = any free port, printed)")->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", f->serve.api_key, "require 'Authorization: Bearer KEY' (default: $AWQX_API_KEY)");
  cmd->add_option("--model-name", f->serve.model_id, "model id in responses (default: the folder name)");
  cmd->add_option("--kv-cache-mb", f->engine.kv_cache_mb, "KV pool size in MiB (0 = max-batch x 1024 tokens)")
      ->check(non_negative());
  cmd->add_option("--kv-type", f->kv_type, "KV cache element type: f32, f16, bf16 (default f16)");
  add_step_tokens_flag(cmd, f->step_tokens);
  cmd->add_option("--block-size", f->engine.block_size, "tokens per KV block")->capture_default_str()
      ->check(positive());
  cmd->add_option("--prefill-chunk", f->engine.prefill_chunk, "prompt tokens per engine step")->capture_default_str()
      ->check(positive());
  cmd->add_option("--max-batch", f->engine.max_batch, "running sequences at most")->capture_default_str()
      ->check(positive());
  cmd->add_option("--max-queue", f->engine.max_queue, "waiting requests at most (beyond: HTTP 503)")
      ->capture_default_str()->check(non_negative());
  cmd->add_flag("--no-prefix-cache", f->no_prefix_cache, "do not share KV blocks of common prompt prefixes");
  cmd->add_option("--grace-s", f->serve.grace_s, "on SIGINT/SIGTERM, seconds running requests may finish")
      ->capture_default_str()->check(non_negative());
  cmd->add_option("--max-body-kb", f->max_body_kb, "largest request body (beyond: HTTP 413)")->capture_default_str();
  cmd->add_option("--http-threads", f->serve.n_http_threads, "HTTP worker threads (0 = max-batch + max-queue + 8)")
      ->check(non_negative());
  cmd->add_option("--read-timeout-s", f->serve.read_timeout_s, "per-read timeout while receiving a request")
      ->capture_default_str()->check(positive());
  cmd->add_option("--max-seq-len", f->max_seq_len, "context length in tokens (0 = from config.json)")
      ->check(non_negative());
  add_run_flags(cmd, f->run);
  cmd->callback([f] { run_serve(*f); });
}

}  // namespace awqx::cli

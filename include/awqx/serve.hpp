// awqx::run_server — an OpenAI-compatible HTTP front end for an Engine (`awqx serve`).
//
// Routes: POST /v1/completions, POST /v1/chat/completions (both with "stream": true as
// server-sent events ending in `data: [DONE]`), GET /v1/models, GET /health, GET /metrics
// (Prometheus text). Errors are OpenAI's {"error": {"message", "type", "param", "code"}}.
// Overload: when the engine's queue is full the answer is 503 with Retry-After.
// A client that disconnects has its request cancelled, so the engine frees its KV blocks.
// Built on cpp-httplib (Debian's libcpp-httplib-dev): one thread per connection from a pool.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "awqx/engine.hpp"
#include "awqx/tokenizer.hpp"

namespace awqx {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0 = any free port (reported through on_listening)
  std::string api_key;                // non-empty: every route but /health needs "Authorization: Bearer <key>"
  size_t max_body_bytes = 1u << 20;   // larger request bodies get 413
  int read_timeout_s = 10;            // per socket read while receiving a request (headers, body)
  int write_timeout_s = 30;           // per socket write; a client that stops reading is dropped
  int keep_alive_s = 5;               // idle keep-alive connections are closed after this
  double grace_s = 30;                // on SIGINT/SIGTERM: time running requests get to finish
  int n_http_threads = 0;             // 0 = engine max_batch + max_queue + 8 (streams hold a thread)
  std::string model_id;               // the "model" in responses and /v1/models; "" = model_dir's name
  int retry_after_s = 1;              // Retry-After of a 503
  // Called once the socket listens (the CLI prints "listening on http://HOST:PORT").
  std::function<void(const std::string& host, int port)> on_listening;
};

// Serves until SIGINT or SIGTERM (handlers installed here), then stops accepting, calls
// engine.shutdown(grace_s), lets open responses finish and returns 0. model_dir picks the chat
// template (detect_chat_family) and the default model id. Throws Error{io} when it cannot bind,
// Error{invalid_argument} for bad options.
int run_server(Engine& engine, const Tokenizer& tokenizer, const std::string& model_dir, const ServeOptions& opts);

}  // namespace awqx

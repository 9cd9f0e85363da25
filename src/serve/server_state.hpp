// What the route handlers of `awqx serve` share (internal to src/serve/).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include <httplib.h>

#include "awqx/engine.hpp"
#include "awqx/serve.hpp"
#include "awqx/tokenizer.hpp"
#include "serve/openai_json.hpp"
#include "serve/request_parse.hpp"

namespace awqx::serve {

struct ServerState {
  Engine& engine;
  const Tokenizer& tokenizer;
  ServeOptions opts;
  std::string chat_family;  // detect_chat_family(model_dir)
  std::string model_id;
  int64_t started = 0;      // unix seconds, the "created" of /v1/models
  std::atomic<uint64_t> requests{0}, errors_4xx{0}, errors_5xx{0}, rejected_503{0}, disconnects{0};
  std::atomic<uint64_t> next_id{1};

  ServerState(Engine& e, const Tokenizer& t) : engine(e), tokenizer(t) {}
  HttpCounters counters() const {
    return {requests.load(), errors_4xx.load(), errors_5xx.load(), rejected_503.load(), disconnects.load()};
  }
};

// Sets an OpenAI error body and status on res (and counts it).
void send_error(ServerState& st, httplib::Response& res, const ApiError& e);

// POST /v1/completions and /v1/chat/completions (generate_route.cpp).
void handle_generate(ServerState& st, const httplib::Request& req, httplib::Response& res, Route route);

}  // namespace awqx::serve

// POST /v1/completions and /v1/chat/completions: validate, tokenize, submit to the engine, and
// answer with one JSON object or a server-sent-event stream. A client that goes away has its
// request cancelled (stream: the write fails or the socket shows closed; non-stream: polled).
#include <chrono>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "serve/client_watch.hpp"
#include "serve/server_state.hpp"

namespace awqx::serve {
namespace {

constexpr std::chrono::milliseconds kPoll{100};  // how often a waiting handler checks its client

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Per-process random base so ids and default seeds differ between runs.
uint64_t process_salt() {
  static const uint64_t salt = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}() ^
                               static_cast<uint64_t>(unix_now());
  return salt;
}

ApiError context_error(const std::string& param, const std::string& message) {
  ApiError e;
  e.param = param;
  e.code = "context_length_exceeded";
  e.message = message;
  return e;
}

// ApiRequest -> GenRequest (prompt tokens, limits, sampling). False with `err` set on a request
// that can never run.
bool to_gen_request(ServerState& st, const ApiRequest& a, GenRequest& g, std::string& echo, ApiError& err) {
  const std::string prompt_param = a.route == Route::chat ? "messages" : "prompt";
  try {
    if (a.route == Route::chat) {
      g.prompt = st.tokenizer.encode(apply_chat_template(st.chat_family, a.messages, true), true);
    } else if (a.has_token_prompt) {
      for (const int32_t id : a.prompt_tokens)
        if (id >= st.tokenizer.vocab_size()) {
          err.param = "prompt";
          err.message = fmt::format("token id {} is outside the vocabulary (size {})", id, st.tokenizer.vocab_size());
          return false;
        }
      g.prompt = a.prompt_tokens;
      if (a.echo) echo = st.tokenizer.decode(a.prompt_tokens);
    } else {
      g.prompt = st.tokenizer.encode(a.prompt, true);
      if (a.echo) echo = a.prompt;
    }
  } catch (const Error& e) {
    err.param = prompt_param;
    err.message = e.what();
    return false;
  }
  if (g.prompt.empty()) {
    err.param = prompt_param;
    err.message = "the prompt encodes to no tokens";
    return false;
  }
  const int64_t ctx = st.engine.context_length(), n = static_cast<int64_t>(g.prompt.size());
  if (n >= ctx) {
    err = context_error(prompt_param, fmt::format("this model's context is {} tokens; the prompt has {} (room for "
                                                  "at least one generated token is needed)", ctx, n));
    return false;
  }
  g.max_tokens = a.max_tokens.value_or(a.route == Route::chat ? ctx - n : 16);
  if (n + g.max_tokens > ctx) {
    err = context_error("max_tokens", fmt::format("this model's context is {} tokens; the prompt has {} and "
                                                  "max_tokens asks for {} more", ctx, n, g.max_tokens));
    return false;
  }
  g.sampling.temperature = a.temperature;
  g.sampling.top_p = a.top_p;
  g.sampling.top_k = a.top_k;
  g.sampling.seed = a.seed ? *a.seed : splitmix(process_salt() + st.next_id.fetch_add(1));
  g.stop = a.stop;
  g.ignore_eos = a.ignore_eos;
  return true;
}

Usage usage_of(const StreamEvent& fin) { return {fin.prompt_tokens, fin.completion_tokens, fin.cached_prompt_tokens}; }

// The engine ended a request without stop/length: shutdown (cancelled) or an engine error.
ApiError abnormal_end(const StreamEvent& fin) {
  ApiError e;
  e.type = "server_error";
  if (fin.finish == FinishReason::cancelled) {
    e.status = 503;
    e.code = "shutting_down";
    e.message = "the server is shutting down; the request was cancelled";
  } else {
    e.status = 500;
    e.message = fin.error.empty() ? "generation failed" : fin.error;
  }
  return e;
}

bool normal_end(FinishReason r) { return r == FinishReason::stop || r == FinishReason::length; }

void answer_whole(ServerState& st, const httplib::Request& req, httplib::Response& res,
                  const std::shared_ptr<RequestStream>& stream, const ResponseHead& head, std::string text) {
  const ClientWatch watch(req.remote_addr, req.remote_port, req.local_port);
  StreamEvent ev;
  for (;;) {
    if (!stream->next(ev, kPoll)) {
      if (watch.gone()) {
        stream->cancel();  // nobody to answer: free the sequence's KV blocks now
        ++st.disconnects;
        return;
      }
      continue;
    }
    text += ev.text;
    if (ev.done) break;
  }
  if (!normal_end(ev.finish)) return send_error(st, res, abnormal_end(ev));
  res.set_content(completion_json(head, text, ev.finish, usage_of(ev)), "application/json");
}

struct SseState {
  std::shared_ptr<RequestStream> stream;
  ResponseHead head;
  ClientWatch watch;
  std::string echo;
  bool include_usage = false, started = false, finished = false, counted = false;
};

void client_lost(ServerState& st, SseState& s) {
  if (s.finished || s.counted) return;
  s.counted = true;
  s.stream->cancel();
  ++st.disconnects;
}

// One call writes what the next engine event brings; false ends the response (client gone).
bool sse_step(ServerState& st, SseState& s, httplib::DataSink& sink) {
  auto send = [&](const std::string& payload) {
    const std::string line = "data: " + payload + "\n\n";
    if (sink.write(line.data(), line.size())) return true;
    client_lost(st, s);
    return false;
  };
  if (!s.started) {
    s.started = true;
    if (s.head.route == Route::chat && !send(chunk_json(s.head, "", true, FinishReason::none))) return false;
    if (!s.echo.empty() && !send(chunk_json(s.head, s.echo, false, FinishReason::none))) return false;
  }
  StreamEvent ev;
  while (!s.stream->next(ev, kPoll)) {
    if (s.watch.gone()) {
      client_lost(st, s);
      return false;
    }
  }
  // One chunk per generated token, as OpenAI streams: its text is empty while a UTF-8 character
  // or a possible stop string is still incomplete (clients see progress; a load generator can
  // time every token).
  if ((!ev.text.empty() || !ev.tokens.empty()) && !send(chunk_json(s.head, ev.text, false, FinishReason::none)))
    return false;
  if (!ev.done) return true;
  s.finished = true;
  if (normal_end(ev.finish)) {
    if (!send(chunk_json(s.head, "", false, ev.finish))) return false;
    if (s.include_usage && !send(usage_chunk_json(s.head, usage_of(ev)))) return false;
  } else {
    const ApiError e = abnormal_end(ev);
    ++(e.status >= 500 ? st.errors_5xx : st.errors_4xx);
    if (!send(error_json(e))) return false;
  }
  if (!send("[DONE]")) return false;
  sink.done();
  return true;
}

void answer_stream(ServerState& st, const httplib::Request& req, httplib::Response& res,
                   std::shared_ptr<RequestStream> stream, const ResponseHead& head, std::string echo,
                   bool include_usage) {
  auto s = std::make_shared<SseState>(SseState{std::move(stream), head,
                                               ClientWatch(req.remote_addr, req.remote_port, req.local_port),
                                               std::move(echo), include_usage});
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  ServerState* stp = &st;
  res.set_chunked_content_provider(
      "text/event-stream", [s, stp](size_t, httplib::DataSink& sink) { return sse_step(*stp, *s, sink); },
      [s, stp](bool) { client_lost(*stp, *s); });  // no-op when the stream finished
}

}  // namespace

void handle_generate(ServerState& st, const httplib::Request& req, httplib::Response& res, Route route) {
  ParseResult p = parse_request(req.body, route);
  if (!p.request) return send_error(st, res, p.error);
  const ApiRequest& a = *p.request;
  GenRequest g;
  std::string echo;
  ApiError err;
  if (!to_gen_request(st, a, g, echo, err)) return send_error(st, res, err);
  std::shared_ptr<RequestStream> stream;
  try {
    stream = st.engine.submit(std::move(g));
  } catch (const Error& e) {
    err.param = e.field();
    err.message = e.what();
    return send_error(st, res, err);
  }
  if (!stream) {
    err.status = 503;
    err.type = "server_error";
    err.code = "overloaded";
    err.message = "the server is overloaded (request queue full) or shutting down; retry later";
    res.set_header("Retry-After", std::to_string(st.opts.retry_after_s));
    ++st.rejected_503;
    return send_error(st, res, err);
  }
  ResponseHead head;
  head.route = route;
  head.id = fmt::format("{}-{:016x}", route == Route::chat ? "chatcmpl" : "cmpl", splitmix(process_salt() ^ stream->id()));
  head.created = unix_now();
  head.model = st.model_id;
  if (a.stream) return answer_stream(st, req, res, std::move(stream), head, std::move(echo), a.include_usage);
  answer_whole(st, req, res, stream, head, std::move(echo));
}

}  // namespace awqx::serve

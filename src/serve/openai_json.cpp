// OpenAI JSON shapes and Prometheus text for `awqx serve`.
#include "serve/openai_json.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace awqx::serve {
namespace {

using nlohmann::json;

// Model output may hold invalid UTF-8 (a byte-level token cut mid-character is already replaced
// by the StreamDecoder, but be safe): replace instead of throwing.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json head_json(const ResponseHead& h, const char* object) {
  return json{{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

json usage_json(const Usage& u) {
  json j{{"prompt_tokens", u.prompt_tokens},
         {"completion_tokens", u.completion_tokens},
         {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  j["prompt_tokens_details"] = json{{"cached_tokens", u.cached_tokens}};
  return j;
}

}  // namespace

std::string finish_name(FinishReason r) { return r == FinishReason::length ? "length" : "stop"; }

std::string completion_json(const ResponseHead& h, const std::string& text, FinishReason finish, const Usage& u) {
  json choice{{"index", 0}, {"finish_reason", finish_name(finish)}, {"logprobs", nullptr}};
  json j;
  if (h.route == Route::chat) {
    j = head_json(h, "chat.completion");
    choice["message"] = json{{"role", "assistant"}, {"content", text}};
  } else {
    j = head_json(h, "text_completion");
    choice["text"] = text;
  }
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(u);
  return dump(j);
}

std::string chunk_json(const ResponseHead& h, const std::string& text, bool role_only, FinishReason finish) {
  json choice{{"index", 0}, {"logprobs", nullptr}};
  choice["finish_reason"] = finish == FinishReason::none ? json(nullptr) : json(finish_name(finish));
  json j;
  if (h.route == Route::chat) {
    j = head_json(h, "chat.completion.chunk");
    if (role_only)
      choice["delta"] = json{{"role", "assistant"}, {"content", ""}};
    else if (finish != FinishReason::none && text.empty())
      choice["delta"] = json::object();
    else
      choice["delta"] = json{{"content", text}};
  } else {
    j = head_json(h, "text_completion");
    choice["text"] = text;
  }
  j["choices"] = json::array({choice});
  return dump(j);
}

std::string usage_chunk_json(const ResponseHead& h, const Usage& u) {
  json j = head_json(h, h.route == Route::chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = json::array();
  j["usage"] = usage_json(u);
  return dump(j);
}

std::string models_json(const std::string& model_id, int64_t created, int64_t context_length) {
  json m{{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "awqx"},
         {"max_model_len", context_length}};
  return dump(json{{"object", "list"}, {"data", json::array({m})}});
}

std::string metrics_text(const EngineMetrics& m, const HttpCounters& h) {
  std::string s;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    s += fmt::format("# HELP awqx_{} {}\n# TYPE awqx_{} {}\nawqx_{} {}\n", name, help, name, type, name, value);
  };
  metric("requests_total", "counter", "Requests the engine accepted.", m.requests_total);
  metric("requests_finished_total", "counter", "Requests that ran to a stop or length finish.", m.requests_finished);
  metric("requests_cancelled_total", "counter", "Requests cancelled (client gone or shutdown).", m.requests_cancelled);
  metric("requests_rejected_total", "counter", "Requests refused because the queue was full.", m.requests_rejected);
  metric("prompt_tokens_total", "counter", "Prompt tokens processed.", m.prompt_tokens_total);
  metric("generation_tokens_total", "counter", "Tokens generated.", m.generated_tokens_total);
  metric("prompt_tokens_cached_total", "counter", "Prompt tokens served from the prefix cache.",
         m.cached_prompt_tokens_total);
  metric("engine_steps_total", "counter", "Batched forward steps run.", m.steps_total);
  metric("queue_length", "gauge", "Requests waiting for admission.", m.queue_length);
  metric("requests_running", "gauge", "Sequences in the running batch.", m.running);
  metric("batch_size", "gauge", "Sequences in the last step.", m.last_batch_seqs);
  metric("batch_tokens", "gauge", "Tokens in the last step.", m.last_batch_tokens);
  metric("kv_blocks_total", "gauge", "KV-cache blocks in the pool.", m.kv_blocks_total);
  metric("kv_blocks_used", "gauge", "KV-cache blocks held by sequences.", m.kv_blocks_used);
  metric("kv_blocks_cached", "gauge", "Free KV blocks still holding a reusable prefix.", m.kv_blocks_cached);
  metric("generation_tokens_per_second", "gauge", "Generated tokens per second over the last ~5 s.",
         fmt::format("{:.3f}", m.generated_tokens_per_s));
  metric("http_requests_total", "counter", "HTTP requests received.", h.requests);
  metric("http_errors_4xx_total", "counter", "HTTP responses with a 4xx status.", h.errors_4xx);
  metric("http_errors_5xx_total", "counter", "HTTP responses with a 5xx status.", h.errors_5xx);
  metric("http_rejected_total", "counter", "503 answers: queue full or shutting down.", h.rejected_503);
  metric("http_disconnects_total", "counter", "Clients gone before their response was complete.", h.disconnects);
  return s;
}

}  // namespace awqx::serve

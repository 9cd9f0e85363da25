// OpenAI JSON shapes and Prometheus text for `awqx serve`.
#include "serve/openai_json.hpp"

#include <string_view>

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

// One metric a line: name, Prometheus type, help. Values: metrics_text, in the same order.
constexpr const char* kMetricDefs = R"(requests_total counter Requests the engine accepted.
requests_finished_total counter Requests that ran to a stop or length finish.
requests_cancelled_total counter Requests cancelled (client gone or shutdown).
requests_rejected_total counter Requests refused because the queue was full.
prompt_tokens_total counter Prompt tokens processed.
generation_tokens_total counter Tokens generated.
prompt_tokens_cached_total counter Prompt tokens served from the prefix cache.
engine_steps_total counter Batched forward steps run.
engine_forward_seconds_total counter Seconds spent in the model's forward passes.
queue_length gauge Requests waiting for admission.
requests_running gauge Sequences in the running batch.
batch_size gauge Sequences in the last step.
batch_tokens gauge Tokens in the last step.
kv_blocks_total gauge KV-cache blocks in the pool.
kv_blocks_used gauge KV-cache blocks held by sequences.
kv_blocks_cached gauge Free KV blocks still holding a reusable prefix.
generation_tokens_per_second gauge Generated tokens per second over the last ~5 s.
http_requests_total counter HTTP requests received.
http_errors_4xx_total counter HTTP responses with a 4xx status.
http_errors_5xx_total counter HTTP responses with a 5xx status.
http_rejected_total counter 503 answers: queue full or shutting down.
http_disconnects_total counter Clients gone before their response was complete.
)";

constexpr size_t count_lines(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += c == '\n';
  return n;
}

std::string metrics_text(const EngineMetrics& m, const HttpCounters& h) {
  const auto u = [](auto v) { return static_cast<double>(v); };
  const double values[] = {
      u(m.requests_total), u(m.requests_finished), u(m.requests_cancelled), u(m.requests_rejected),
      u(m.prompt_tokens_total), u(m.generated_tokens_total), u(m.cached_prompt_tokens_total), u(m.steps_total),
      m.forward_seconds_total, u(m.queue_length), u(m.running), u(m.last_batch_seqs), u(m.last_batch_tokens),
      u(m.kv_blocks_total), u(m.kv_blocks_used), u(m.kv_blocks_cached), m.generated_tokens_per_s,
      u(h.requests), u(h.errors_4xx), u(h.errors_5xx), u(h.rejected_503), u(h.disconnects)};
  static_assert(sizeof values / sizeof values[0] == count_lines(kMetricDefs), "one value per kMetricDefs line");
  std::string s;
  std::string_view defs = kMetricDefs;
  for (const double v : values) {
    const std::string_view line = defs.substr(0, defs.find('\n'));
    defs.remove_prefix(line.size() + 1);
    const size_t a = line.find(' '), b = line.find(' ', a + 1);
    const std::string_view name = line.substr(0, a), type = line.substr(a + 1, b - a - 1), help = line.substr(b + 1);
    // Counts print as integers (exact below 2^53); rates and seconds with 3 decimals.
    const std::string value = v == static_cast<double>(static_cast<int64_t>(v)) ? std::to_string(static_cast<int64_t>(v))
                                                                                : fmt::format("{:.3f}", v);
    s += fmt::format("# HELP awqx_{0} {1}\n# TYPE awqx_{0} {2}\nawqx_{0} {3}\n", name, help, type, value);
  }
  return s;
}

}  // namespace awqx::serve

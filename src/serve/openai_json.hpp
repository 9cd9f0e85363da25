// OpenAI response shapes (JSON text) and the Prometheus /metrics page. Pure functions.
#pragma once
#include <cstdint>
#include <string>

#include "awqx/engine.hpp"
#include "serve/request_parse.hpp"

namespace awqx::serve {

// What every response object of one request shares.
struct ResponseHead {
  std::string id;     // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;
  std::string model;
  Route route = Route::completions;
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

// "stop" | "length" for OpenAI; engine reasons beyond those never reach here.
std::string finish_name(FinishReason r);

// Whole (non-streaming) response: text_completion or chat.completion.
std::string completion_json(const ResponseHead& h, const std::string& text, FinishReason finish, const Usage& u);

// One SSE chunk's JSON: text_completion (text) or chat.completion.chunk (delta). role_only:
// the first chat chunk ({"role": "assistant", "content": ""}); finish: set on the last chunk.
std::string chunk_json(const ResponseHead& h, const std::string& text, bool role_only, FinishReason finish);
// The stream_options.include_usage chunk: empty choices, usage set.
std::string usage_chunk_json(const ResponseHead& h, const Usage& u);

std::string models_json(const std::string& model_id, int64_t created, int64_t context_length);

// Prometheus text exposition (version 0.0.4) of the engine's counters and gauges plus the HTTP
// layer's own counters.
struct HttpCounters {
  uint64_t requests = 0, errors_4xx = 0, errors_5xx = 0, rejected_503 = 0, disconnects = 0;
};
std::string metrics_text(const EngineMetrics& m, const HttpCounters& h);

}  // namespace awqx::serve

// OpenAI request bodies -> validated requests, as a pure function (no engine, no tokenizer, no
// sockets), so tests/fuzz/serve_request_fuzz.cpp can drive it with arbitrary bytes.
//
// Accepted (everything else in the body is ignored, as llama-server and vLLM do: SDKs add new
// optional fields every release, and refusing them would break clients that never use them):
//   both routes: model (string), max_tokens (integer >= 1; chat also max_completion_tokens),
//     temperature (0..2), top_p (0..1], top_k (integer >= 0, extension), seed (integer),
//     stop (string or array of at most 16 strings), stream (bool), stream_options.include_usage,
//     n / best_of (only 1), user (string, ignored), presence_penalty / frequency_penalty
//     (numbers in [-2, 2], accepted and ignored), ignore_eos (bool, extension).
//   /v1/completions: prompt (string, [string], [token ids] or [[token ids]]: one prompt), echo.
//   /v1/chat/completions: messages [{role: system|developer|user|assistant, content: string or
//     [{type: "text", text}]}].
// Refused with 400 naming the param: wrong JSON types, out-of-range values, n > 1, logprobs,
// non-empty logit_bias / tools / functions, response_format other than text.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace awqx::serve {

// An OpenAI-shaped error: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" = null
  std::string code;   // "" = null
};

enum class Route { completions, chat };

struct ApiRequest {
  Route route = Route::completions;
  std::string model;
  // completions: either text or token ids (has_token_prompt)
  std::string prompt;
  std::vector<int32_t> prompt_tokens;
  bool has_token_prompt = false;
  bool echo = false;
  // chat: (role, content) pairs; "developer" is mapped to "system"
  std::vector<std::pair<std::string, std::string>> messages;
  std::optional<int64_t> max_tokens;  // unset: 16 for completions, the rest of the context for chat
  float temperature = 1.0f;           // OpenAI's defaults: temperature 1, top_p 1, no top-k
  float top_p = 1.0f;
  int top_k = 0;
  std::optional<uint64_t> seed;       // unset: a fresh seed per request
  std::vector<std::string> stop;      // empty strings dropped
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  bool ignore_eos = false;
};

struct ParseResult {
  std::optional<ApiRequest> request;  // set on success
  ApiError error;                     // meaningful when !request
};

// Parses and validates a request body for `route`. Never throws (bad_alloc aside).
ParseResult parse_request(std::string_view body, Route route);

// {"error": {"message", "type", "param", "code"}} (empty param/code are null).
std::string error_json(const ApiError& e);

}  // namespace awqx::serve

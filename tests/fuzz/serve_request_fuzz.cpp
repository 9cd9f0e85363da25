// libFuzzer target: OpenAI request bodies (serve::parse_request) for both routes.
// Never throws; an accepted request must satisfy every documented bound; an error has a 4xx
// status and a message and serializes to JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/request_parse.hpp"

using awqx::serve::Route;

static void check(std::string_view body, Route route) {
  const auto r = awqx::serve::parse_request(body, route);
  if (!r.request) {
    if (r.error.status < 400 || r.error.status > 499 || r.error.message.empty()) __builtin_trap();
    if (awqx::serve::error_json(r.error).empty()) __builtin_trap();
    return;
  }
  const auto& a = *r.request;
  if (a.max_tokens && *a.max_tokens < 1) __builtin_trap();
  if (!(a.temperature >= 0 && a.temperature <= 2) || !(a.top_p > 0 && a.top_p <= 1) || a.top_k < 0) __builtin_trap();
  if (a.stop.size() > 16) __builtin_trap();
  for (const auto& s : a.stop)
    if (s.empty()) __builtin_trap();
  if (route == Route::chat) {
    if (a.messages.empty()) __builtin_trap();
    for (const auto& [role, text] : a.messages)
      if (role != "system" && role != "user" && role != "assistant") __builtin_trap();
  } else if (a.has_token_prompt ? a.prompt_tokens.empty() : !a.prompt_tokens.empty()) {
    __builtin_trap();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check(body, Route::completions);
  check(body, Route::chat);
  return 0;
}

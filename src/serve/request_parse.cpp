// OpenAI request validation (see request_parse.hpp for what is accepted and why).
#include "serve/request_parse.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

namespace awqx::serve {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 64;    // nesting deeper than any real request: refused before parsing
constexpr size_t kMaxStops = 16;

ApiError bad(const std::string& param, const std::string& message) {
  ApiError e;
  e.message = message;
  e.param = param;
  return e;
}

// JSON nesting depth outside strings; stops counting once past kMaxDepth.
bool too_deep(std::string_view s) {
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

const char* type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

ApiError wrong_type(const std::string& param, const char* expected, const json& v) {
  return bad(param, "'" + param + "' must be " + expected + ", found " + type_name(v));
}

// Field readers: return an error (set) or leave `out` untouched when the field is absent/null.
std::optional<ApiError> get_bool(const json& o, const char* key, bool& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return wrong_type(key, "a boolean", *it);
  out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> get_number(const json& o, const char* key, double lo, double hi, bool lo_open,
                                   std::optional<double>& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(key, "a number", *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v > hi || v < lo || (lo_open && v == lo)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "'%s' must be in %c%g, %g], found %g", key, lo_open ? '(' : '[', lo, hi, v);
    return bad(key, buf);
  }
  out = v;
  return std::nullopt;
}

std::optional<ApiError> get_int(const json& o, const char* key, int64_t lo, std::optional<int64_t>& out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (d != std::floor(d) || !(std::fabs(d) < 9.0e18)) return wrong_type(key, "an integer", *it);
    out = static_cast<int64_t>(d);
  } else if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    out = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                          : static_cast<int64_t>(u);
  } else if (it->is_number_integer()) {
    out = it->get<int64_t>();
  } else {
    return wrong_type(key, "an integer", *it);
  }
  if (*out < lo) return bad(key, "'" + std::string(key) + "' must be >= " + std::to_string(lo) +
                                     ", found " + std::to_string(*out));
  return std::nullopt;
}

std::optional<ApiError> parse_prompt(const json& o, ApiRequest& r) {
  auto it = o.find("prompt");
  if (it == o.end() || it->is_null()) return bad("prompt", "'prompt' is required");
  const json& p = *it;
  if (p.is_string()) {
    r.prompt = p.get<std::string>();
    return std::nullopt;
  }
  if (!p.is_array()) return wrong_type("prompt", "a string or an array", p);
  if (p.empty()) return bad("prompt", "'prompt' must not be empty");
  const json* ids = &p;
  if (p[0].is_string() || p[0].is_array()) {
    if (p.size() != 1) return bad("prompt", "only one prompt per request is supported, found " + std::to_string(p.size()));
    if (p[0].is_string()) {
      r.prompt = p[0].get<std::string>();
      return std::nullopt;
    }
    ids = &p[0];
  }
  if (ids->empty()) return bad("prompt", "'prompt' must not be empty");
  for (const json& t : *ids) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<int32_t>::max())
      return bad("prompt", "'prompt' token ids must be non-negative integers");
    r.prompt_tokens.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  r.has_token_prompt = true;
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const json& o, ApiRequest& r) {
  auto it = o.find("messages");
  if (it == o.end() || it->is_null()) return bad("messages", "'messages' is required");
  if (!it->is_array()) return wrong_type("messages", "an array", *it);
  if (it->empty()) return bad("messages", "'messages' must not be empty");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return wrong_type(at, "an object", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return bad(at + ".role", "'" + at + ".role' must be a string");
    std::string rs = role->get<std::string>();
    if (rs == "developer") rs = "system";
    if (rs != "system" && rs != "user" && rs != "assistant")
      return bad(at + ".role", "'" + at + ".role' must be system, developer, user or assistant, found '" + rs + "'");
    auto content = m.find("content");
    std::string text;
    if (content == m.end() || content->is_null()) {
      if (rs != "assistant") return bad(at + ".content", "'" + at + ".content' is required");
    } else if (content->is_string()) {
      text = content->get<std::string>();
    } else if (content->is_array()) {
      for (const json& part : *content) {
        auto type = part.is_object() ? part.find("type") : part.end();
        auto ptext = part.is_object() ? part.find("text") : part.end();
        if (!part.is_object() || type == part.end() || *type != "text" || ptext == part.end() || !ptext->is_string())
          return bad(at + ".content", "'" + at + ".content' parts must be {\"type\": \"text\", \"text\": string}");
        text += ptext->get<std::string>();
      }
    } else {
      return wrong_type(at + ".content", "a string or an array of text parts", *content);
    }
    r.messages.emplace_back(std::move(rs), std::move(text));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_stop(const json& o, ApiRequest& r) {
  auto it = o.find("stop");
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    if (!it->get<std::string>().empty()) r.stop.push_back(it->get<std::string>());
    return std::nullopt;
  }
  if (!it->is_array()) return wrong_type("stop", "a string or an array of strings", *it);
  if (it->size() > kMaxStops) return bad("stop", "'stop' holds at most 16 strings");
  for (const json& s : *it) {
    if (!s.is_string()) return wrong_type("stop", "a string or an array of strings", s);
    if (!s.get<std::string>().empty()) r.stop.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

// Parameters we know but do not implement: refused only when they would change the output.
std::optional<ApiError> check_unsupported(const json& o, Route route) {
  auto lp = o.find("logprobs");
  if (lp != o.end() && !lp->is_null() && *lp != false && *lp != 0)
    return bad("logprobs", "'logprobs' is not supported");
  for (const char* key : {"logit_bias", "tools", "functions"}) {
    auto it = o.find(key);
    if (it != o.end() && !it->is_null() && !it->empty()) return bad(key, "'" + std::string(key) + "' is not supported");
  }
  auto rf = o.find("response_format");
  if (rf != o.end() && !rf->is_null()) {
    if (!rf->is_object()) return wrong_type("response_format", "an object", *rf);
    auto t = rf->find("type");
    if (t == rf->end() || *t != "text") return bad("response_format", "only response_format {\"type\": \"text\"} is supported");
  }
  if (route == Route::chat && o.contains("prompt")) return bad("prompt", "chat completions take 'messages', not 'prompt'");
  return std::nullopt;
}

std::optional<ApiError> parse_fields(const json& o, Route route, ApiRequest& r) {
  r.route = route;
  if (auto it = o.find("model"); it != o.end() && !it->is_null()) {
    if (!it->is_string()) return wrong_type("model", "a string", *it);
    r.model = it->get<std::string>();
  }
  if (auto it = o.find("user"); it != o.end() && !it->is_null() && !it->is_string())
    return wrong_type("user", "a string", *it);
  if (auto e = check_unsupported(o, route)) return e;
  if (auto e = route == Route::chat ? parse_messages(o, r) : parse_prompt(o, r)) return e;
  std::optional<int64_t> iv;
  if (auto e = get_int(o, "max_tokens", 1, iv)) return e;
  if (route == Route::chat && !iv)
    if (auto e = get_int(o, "max_completion_tokens", 1, iv)) return e;
  r.max_tokens = iv;
  for (const char* key : {"n", "best_of"}) {
    iv.reset();
    if (auto e = get_int(o, key, 1, iv)) return e;
    if (iv && *iv != 1) return bad(key, "'" + std::string(key) + "' must be 1 (one choice per request), found " + std::to_string(*iv));
  }
  iv.reset();
  if (auto e = get_int(o, "top_k", 0, iv)) return e;
  if (iv) r.top_k = static_cast<int>(std::min<int64_t>(*iv, std::numeric_limits<int>::max()));
  iv.reset();
  if (auto e = get_int(o, "seed", std::numeric_limits<int64_t>::min(), iv)) return e;
  if (iv) r.seed = static_cast<uint64_t>(*iv);
  std::optional<double> dv;
  if (auto e = get_number(o, "temperature", 0.0, 2.0, false, dv)) return e;
  if (dv) r.temperature = static_cast<float>(*dv);
  dv.reset();
  if (auto e = get_number(o, "top_p", 0.0, 1.0, true, dv)) return e;
  if (dv) r.top_p = static_cast<float>(*dv);
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    dv.reset();
    if (auto e = get_number(o, key, -2.0, 2.0, false, dv)) return e;
  }
  if (auto e = parse_stop(o, r)) return e;
  if (auto e = get_bool(o, "stream", r.stream)) return e;
  if (auto e = get_bool(o, "ignore_eos", r.ignore_eos)) return e;
  if (route == Route::completions)
    if (auto e = get_bool(o, "echo", r.echo)) return e;
  if (auto it = o.find("stream_options"); it != o.end() && !it->is_null()) {
    if (!it->is_object()) return wrong_type("stream_options", "an object", *it);
    if (auto e = get_bool(*it, "include_usage", r.include_usage)) {
      e->param = "stream_options.include_usage";
      return e;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string error_json(const ApiError& e) {
  auto null_or = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  const json j{{"error", json{{"message", e.message}, {"type", e.type}, {"param", null_or(e.param)}, {"code", null_or(e.code)}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ParseResult parse_request(std::string_view body, Route route) {
  ParseResult res;
  if (too_deep(body)) {
    res.error = bad("", "request body nests deeper than 64 levels");
    return res;
  }
  const json o = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (o.is_discarded()) {
    res.error = bad("", "request body is not valid JSON");
    return res;
  }
  if (!o.is_object()) {
    res.error = bad("", std::string("request body must be a JSON object, found ") + type_name(o));
    return res;
  }
  ApiRequest r;
  if (auto e = parse_fields(o, route, r)) {
    res.error = std::move(*e);
    return res;
  }
  res.request = std::move(r);
  return res;
}

}  // namespace awqx::serve

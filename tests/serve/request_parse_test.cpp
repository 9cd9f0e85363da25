// serve::parse_request: accepted shapes, defaults, and a 400 naming the param for each misuse.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "serve/request_parse.hpp"

namespace awqx::serve {
namespace {

ApiRequest ok(const std::string& body, Route route = Route::completions) {
  auto r = parse_request(body, route);
  EXPECT_TRUE(r.request) << body << " -> " << r.error.message;
  return r.request ? *r.request : ApiRequest{};
}

ApiError err(const std::string& body, Route route = Route::completions) {
  auto r = parse_request(body, route);
  EXPECT_FALSE(r.request) << body;
  EXPECT_EQ(r.error.status, 400) << body;
  return r.error;
}

TEST(ServeRequestParse, CompletionDefaultsAreOpenAIs) {
  const ApiRequest a = ok(R"({"model":"x","prompt":"hello"})");
  EXPECT_EQ(a.prompt, "hello");
  EXPECT_FALSE(a.max_tokens);
  EXPECT_FLOAT_EQ(a.temperature, 1.0f);
  EXPECT_FLOAT_EQ(a.top_p, 1.0f);
  EXPECT_EQ(a.top_k, 0);
  EXPECT_FALSE(a.seed);
  EXPECT_FALSE(a.stream);
}

TEST(ServeRequestParse, CompletionFields) {
  const ApiRequest a = ok(R"({"prompt":["hi"],"max_tokens":7,"temperature":0,"top_p":0.5,"top_k":3,"seed":42,
                               "stop":["a","","b"],"stream":true,"stream_options":{"include_usage":true},"n":1,
                               "user":"u","echo":true,"unknown_field":{"x":1},"presence_penalty":1})");
  EXPECT_EQ(a.prompt, "hi");
  EXPECT_EQ(*a.max_tokens, 7);
  EXPECT_FLOAT_EQ(a.temperature, 0.0f);
  EXPECT_FLOAT_EQ(a.top_p, 0.5f);
  EXPECT_EQ(a.top_k, 3);
  EXPECT_EQ(*a.seed, 42u);
  EXPECT_EQ(a.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(a.stream && a.include_usage && a.echo);
  EXPECT_EQ(ok(R"({"prompt":"x","stop":"\n"})").stop, std::vector<std::string>{"\n"});
}

TEST(ServeRequestParse, TokenPrompts) {
  EXPECT_EQ(ok(R"({"prompt":[1,2,3]})").prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(ok(R"({"prompt":[[5,6]]})").has_token_prompt);
  EXPECT_EQ(err(R"({"prompt":[1,-2]})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":["a","b"]})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":[]})").param, "prompt");
}

TEST(ServeRequestParse, ChatMessages) {
  const ApiRequest a = ok(R"({"messages":[{"role":"developer","content":"sys"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_completion_tokens":3})",
                          Route::chat);
  ASSERT_EQ(a.messages.size(), 2u);
  EXPECT_EQ(a.messages[0], (std::pair<std::string, std::string>{"system", "sys"}));
  EXPECT_EQ(a.messages[1].second, "ab");
  EXPECT_EQ(*a.max_tokens, 3);
  EXPECT_EQ(err(R"({"messages":[]})", Route::chat).param, "messages");
  EXPECT_EQ(err(R"({"messages":"hi"})", Route::chat).param, "messages");
  EXPECT_EQ(err(R"({"messages":[{"role":"tool","content":"x"}]})", Route::chat).param, "messages[0].role");
  EXPECT_EQ(err(R"({"messages":[{"role":"user","content":5}]})", Route::chat).param, "messages[0].content");
  EXPECT_EQ(err(R"({"prompt":"x"})", Route::chat).param, "prompt");  // chat takes messages
}

TEST(ServeRequestParse, WrongTypesNameTheParam) {
  EXPECT_EQ(err(R"({"prompt":5})").param, "prompt");
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":"5"})").param, "max_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":1.5})").param, "max_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","max_tokens":0})").param, "max_tokens");
  EXPECT_EQ(err(R"({"prompt":"x","temperature":"hot"})").param, "temperature");
  EXPECT_EQ(err(R"({"prompt":"x","temperature":2.5})").param, "temperature");
  EXPECT_EQ(err(R"({"prompt":"x","top_p":0})").param, "top_p");
  EXPECT_EQ(err(R"({"prompt":"x","top_k":-1})").param, "top_k");
  EXPECT_EQ(err(R"({"prompt":"x","seed":"s"})").param, "seed");
  EXPECT_EQ(err(R"({"prompt":"x","stop":[1]})").param, "stop");
  EXPECT_EQ(err(R"({"prompt":"x","stream":"yes"})").param, "stream");
  EXPECT_EQ(err(R"({"prompt":"x","model":1})").param, "model");
  EXPECT_EQ(err(R"({"prompt":"x","stream_options":{"include_usage":1}})").param, "stream_options.include_usage");
}

TEST(ServeRequestParse, UnsupportedFeaturesAreRefusedClearly) {
  const ApiError n = err(R"({"prompt":"x","n":2})");
  EXPECT_EQ(n.param, "n");
  EXPECT_NE(n.message.find("must be 1"), std::string::npos);
  EXPECT_EQ(err(R"({"prompt":"x","best_of":3})").param, "best_of");
  EXPECT_EQ(err(R"({"prompt":"x","logprobs":2})").param, "logprobs");
  EXPECT_EQ(err(R"({"prompt":"x","logit_bias":{"1":5}})").param, "logit_bias");
  EXPECT_EQ(err(R"({"messages":[{"role":"user","content":"x"}],"tools":[{}]})", Route::chat).param, "tools");
  EXPECT_EQ(err(R"({"prompt":"x","response_format":{"type":"json_object"}})").param, "response_format");
  ok(R"({"prompt":"x","logprobs":null,"logit_bias":{},"tools":null})");
}

TEST(ServeRequestParse, BadBodies) {
  EXPECT_NE(err("{not json").message.find("not valid JSON"), std::string::npos);
  EXPECT_NE(err("[1,2]").message.find("JSON object"), std::string::npos);
  EXPECT_NE(err(std::string(100, '[') + std::string(100, ']')).message.find("deeper"), std::string::npos);
  EXPECT_EQ(err("{}").param, "prompt");
}

TEST(ServeRequestParse, ErrorBodyIsOpenAIShaped) {
  const auto j = nlohmann::json::parse(error_json(err(R"({"prompt":"x","n":2})")));
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_TRUE(j["error"]["message"].is_string());
}

}  // namespace
}  // namespace awqx::serve

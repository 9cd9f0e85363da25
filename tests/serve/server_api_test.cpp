// `awqx serve` over loopback: every route's OpenAI shape, errors (400/401/404/413), SIGTERM.
#include <gtest/gtest.h>

#include <csignal>

#include "serve/serve_util.hpp"

namespace awqx_test {
namespace {

using nlohmann::json;

class ServeApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::signal(SIGPIPE, SIG_IGN);
    server_ = new ServerProcess({"--max-seq-len", "256"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerProcess* server_;
};
ServerProcess* ServeApi::server_ = nullptr;

json post(int port, const std::string& path, const std::string& body, int* status = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(client_read_timeout_s(), 0);
  auto r = c.Post(path, body, "application/json");
  EXPECT_TRUE(r) << path;
  if (!r) return json();
  if (status) *status = r->status;
  return parse_json(r->body);
}

void expect_error(const json& j, const std::string& param) {
  ASSERT_TRUE(j.contains("error")) << j.dump();
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"]["type"].is_string());
  if (param.empty())
    EXPECT_TRUE(j["error"]["param"].is_null()) << j.dump();
  else
    EXPECT_EQ(j["error"]["param"], param) << j.dump();
}

TEST_F(ServeApi, Completion) {
  ASSERT_TRUE(server_->ok());
  int st = 0;
  const json j = post(server_->port(), "/v1/completions",
                      R"({"model":"tiny","prompt":"Once upon a time","max_tokens":12,"temperature":0})", &st);
  EXPECT_EQ(st, 200) << j.dump();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_TRUE(j["created"].is_number_integer());
  EXPECT_EQ(j["model"], "tiny-llama-7m");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_TRUE(j["choices"][0]["text"].is_string());
  const std::string fr = j["choices"][0]["finish_reason"];
  EXPECT_TRUE(fr == "stop" || fr == "length");
  const auto& u = j["usage"];
  EXPECT_GT(u["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(u["completion_tokens"].get<int>(), 12);
  EXPECT_EQ(u["total_tokens"].get<int>(), u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());
  if (fr == "length") {
    EXPECT_EQ(u["completion_tokens"], 12);
  }
}

TEST_F(ServeApi, ChatCompletion) {
  int st = 0;
  const json j = post(server_->port(), "/v1/chat/completions",
                      R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],
                          "max_tokens":8,"temperature":0})", &st);
  EXPECT_EQ(st, 200) << j.dump();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 5);  // the template adds tokens
}

TEST_F(ServeApi, StreamingCompletionMatchesWhole) {
  const std::string body = R"({"prompt":"The little dog","max_tokens":10,"temperature":0)";
  const json whole = post(server_->port(), "/v1/completions", body + "}");
  const SseResult s = post_stream(server_->port(), "/v1/completions",
                                  body + R"(,"stream":true,"stream_options":{"include_usage":true}})");
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done) << s.raw;
  ASSERT_GE(s.chunks.size(), 2u);
  EXPECT_EQ(s.text(), whole["choices"][0]["text"].get<std::string>());
  const json& usage = s.chunks.back();
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], whole["usage"]["completion_tokens"]);
  const json& last = s.chunks[s.chunks.size() - 2];
  EXPECT_EQ(last["choices"][0]["finish_reason"], whole["choices"][0]["finish_reason"]);
  for (size_t i = 0; i + 2 < s.chunks.size(); ++i) {
    EXPECT_EQ(s.chunks[i]["object"], "text_completion");
    EXPECT_TRUE(s.chunks[i]["choices"][0]["finish_reason"].is_null());
  }
}

TEST_F(ServeApi, StreamingChat) {
  const SseResult s = post_stream(server_->port(), "/v1/chat/completions",
                                  R"({"messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"stream":true})");
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  ASSERT_GE(s.chunks.size(), 2u);
  EXPECT_EQ(s.chunks.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(s.chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_FALSE(s.chunks.back()["choices"][0]["finish_reason"].is_null());
  EXPECT_NE(s.raw.find("data: [DONE]\n\n"), std::string::npos);
}

TEST_F(ServeApi, ModelsHealthMetrics) {
  auto c = server_->client();
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  const json j = parse_json(m->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "tiny-llama-7m");
  EXPECT_EQ(j["data"][0]["object"], "model");
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto met = c.Get("/metrics");
  ASSERT_TRUE(met);
  EXPECT_EQ(met->status, 200);
  for (const char* name : {"awqx_requests_total", "awqx_generation_tokens_total", "awqx_queue_length",
                           "awqx_batch_size", "awqx_kv_blocks_used", "awqx_kv_blocks_total",
                           "awqx_generation_tokens_per_second"})
    EXPECT_GE(metric(met->body, name), 0) << name << " missing in\n" << met->body;
  EXPECT_NE(met->body.find("# TYPE awqx_requests_total counter"), std::string::npos);
}

TEST_F(ServeApi, BadRequests) {
  const int p = server_->port();
  int st = 0;
  expect_error(post(p, "/v1/completions", "{not json", &st), "");
  EXPECT_EQ(st, 400);
  expect_error(post(p, "/v1/completions", R"({"prompt":"x","max_tokens":"ten"})", &st), "max_tokens");
  EXPECT_EQ(st, 400);
  expect_error(post(p, "/v1/completions", R"({"prompt":"x","n":2})", &st), "n");
  EXPECT_EQ(st, 400);
  expect_error(post(p, "/v1/completions", R"({"prompt":"x","temperature":[1]})", &st), "temperature");
  expect_error(post(p, "/v1/chat/completions", R"({"messages":[{"role":"user"}]})", &st), "messages[0].content");
  EXPECT_EQ(st, 400);
  const json big = post(p, "/v1/completions", R"({"prompt":"x","max_tokens":100000})", &st);
  EXPECT_EQ(st, 400);
  expect_error(big, "max_tokens");
  EXPECT_EQ(big["error"]["code"], "context_length_exceeded");
  auto c = server_->client();
  auto nf = c.Get("/v1/nope");
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
  expect_error(parse_json(nf->body), "");
}

TEST(ServeLimits, ApiKeyAndBodyLimit) {
  std::signal(SIGPIPE, SIG_IGN);
  ServerProcess s({"--api-key", "s3cret", "--max-body-kb", "1"});
  ASSERT_TRUE(s.ok());
  auto c = s.client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);  // no key needed
  auto no = c.Get("/v1/models");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->status, 401);
  EXPECT_EQ(parse_json(no->body)["error"]["code"], "invalid_api_key");
  auto wrong = c.Get("/v1/models", {{"Authorization", "Bearer s3cre"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  httplib::Headers key = {{"Authorization", "Bearer s3cret"}};
  auto yes = c.Get("/v1/models", key);
  ASSERT_TRUE(yes);
  EXPECT_EQ(yes->status, 200);
  auto post = c.Post("/v1/completions", key, R"({"prompt":"x"})", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 200) << post->body;
  const std::string huge = R"({"prompt":")" + std::string(4096, 'a') + R"("})";
  auto big = c.Post("/v1/completions", key, huge, "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  expect_error(parse_json(big->body), "");
  EXPECT_EQ(s.stop(), 0) << s.log();
}

TEST(ServeLimits, EnvApiKey) {
  ServerProcess s({}, {"AWQX_API_KEY=envkey"});
  ASSERT_TRUE(s.ok());
  auto c = s.client();
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  EXPECT_EQ(c.Get("/v1/models", {{"Authorization", "Bearer envkey"}})->status, 200);
}

TEST(ServeLifecycle, SigtermFinishesOpenStreamAndExitsZero) {
  std::signal(SIGPIPE, SIG_IGN);
  ServerProcess s({"--grace-s", "20"});
  ASSERT_TRUE(s.ok());
  SseResult r;
  std::thread t([&] {
    r = post_stream(s.port(), "/v1/completions",
                    R"({"prompt":"Once","max_tokens":60,"temperature":0,"ignore_eos":true,"stream":true})");
  });
  // SIGTERM only once the stream runs (a fixed sleep could signal before it was accepted).
  double running = 0;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       running < 1 && std::chrono::steady_clock::now() < until;) {
    auto m = s.client().Get("/metrics");
    if (m) running = metric(m->body, "awqx_requests_running");
    if (running < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(running, 1) << s.log();  // not fatal: the thread must still be joined
  EXPECT_EQ(s.stop(), 0) << s.log();
  t.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.done) << r.raw;  // the grace period let it finish
  EXPECT_FALSE(r.chunks.empty());
  // and nothing listens any more
  httplib::Client c("127.0.0.1", s.port());
  c.set_connection_timeout(1, 0);
  EXPECT_FALSE(c.Get("/health"));
}

}  // namespace
}  // namespace awqx_test

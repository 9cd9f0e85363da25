// Real clients against `awqx serve`: curl (plain and SSE) and the official OpenAI Node SDK
// (tests/serve/node, installed with `npm ci` when node_modules is missing).
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "cli/cli_runner.hpp"
#include "serve/serve_util.hpp"

namespace awqx_test {
namespace {

TEST(ServeClients, Curl) {
  std::signal(SIGPIPE, SIG_IGN);
  ServerProcess s({"--api-key", "k"});
  ASSERT_TRUE(s.ok());
  const std::string base = "http://127.0.0.1:" + std::to_string(s.port());
  const std::string auth = " -H 'Authorization: Bearer k' -H 'Content-Type: application/json'";
  const std::string out = run_ok("curl -sS --max-time 60" + auth + " " + base +
                                 "/v1/completions -d '{\"prompt\":\"Once upon a time\",\"max_tokens\":5}'");
  const auto j = parse_json(out);
  EXPECT_EQ(j["object"], "text_completion") << out;
  const std::string sse = run_ok("curl -sSN --max-time 60" + auth + " " + base +
                                 "/v1/chat/completions -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                                 "\"max_tokens\":5,\"stream\":true}'");
  EXPECT_EQ(sse.rfind("data: {", 0), 0u) << sse;
  EXPECT_NE(sse.find("\"chat.completion.chunk\""), std::string::npos);
  EXPECT_EQ(sse.substr(sse.size() - 14), "data: [DONE]\n\n");
  int rc = 0;
  const std::string code = run_command("curl -s -o /dev/null -w '%{http_code}' " + base + "/v1/models", &rc);
  EXPECT_EQ(code, "401");
}

TEST(ServeClients, OpenAINodeSdk) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::string dir = source_dir() + "/tests/serve/node";
  int rc = 0;
  run_command("command -v node >/dev/null && command -v npm >/dev/null", &rc);
  ASSERT_EQ(rc, 0) << "node/npm missing: run tools/deps.sh";
  if (!std::filesystem::exists(dir + "/node_modules/openai"))
    run_ok("cd " + shell_quote(dir) + " && npm ci --no-audit --no-fund >/dev/null 2>&1");
  ServerProcess s({"--api-key", "node-key"});
  ASSERT_TRUE(s.ok());
  const std::string out = run_command("cd " + shell_quote(dir) + " && AWQX_BASE_URL=http://127.0.0.1:" +
                                          std::to_string(s.port()) + "/v1 AWQX_API_KEY=node-key timeout 120 node "
                                          "openai_client.mjs 2>&1", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("openai-node: ok"), std::string::npos) << out;
}

}  // namespace
}  // namespace awqx_test

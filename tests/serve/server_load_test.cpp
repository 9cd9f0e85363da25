// `awqx serve` under load: greedy output equals `awqx generate`, 64 concurrent mixed requests
// all complete with their single-request outputs, queue overflow answers 503 + Retry-After,
// clients that vanish mid-stream leave no KV blocks behind.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <set>
#include <thread>

#include "cli/cli_runner.hpp"
#include "serve/serve_util.hpp"

namespace awqx_test {
namespace {

using nlohmann::json;

const std::vector<std::string> kPrompts = {"Once upon a time", "The little dog", "Lily and Ben went to the park",
                                           "One day, a big red ball", "Tom was sad because",
                                           "The sun was shining and the birds"};

std::string completion_body(const std::string& prompt, int max_tokens, bool stream) {
  return json{{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", stream}}.dump();
}

// Non-streaming completion text ("" + failure on a non-200).
std::string complete(int port, const std::string& prompt, int max_tokens) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(client_read_timeout_s(), 0);
  auto r = c.Post("/v1/completions", completion_body(prompt, max_tokens, false), "application/json");
  if (!r || r->status != 200) {
    ADD_FAILURE() << "completion failed: " << (r ? r->body : httplib::to_string(r.error()));
    return "";
  }
  return parse_json(r->body)["choices"][0]["text"];
}

TEST(ServeLoad, GreedyCompletionEqualsGenerate) {
  std::signal(SIGPIPE, SIG_IGN);
  ServerProcess s({});
  ASSERT_TRUE(s.ok());
  for (const std::string prompt : {"Once upon a time", "The little dog"}) {
    std::vector<std::string> args = {"generate", "--model", tiny_model(), "--prompt", prompt, "--temperature", "0",
                                     "--max-new-tokens", "24", "--threads", "1"};
    for (const auto& a : backend_args()) args.push_back(a);
    const CliResult g = run_cli(args);
    ASSERT_EQ(g.exit_code, 0) << g.err;
    // generate echoes the prompt and ends with a newline
    ASSERT_EQ(g.out.rfind(prompt, 0), 0u) << g.out;
    const std::string expected = g.out.substr(prompt.size(), g.out.size() - prompt.size() - 1);
    EXPECT_EQ(complete(s.port(), prompt, 24), expected) << "prompt: " << prompt;
  }
}

TEST(ServeLoad, SixtyFourMixedRequestsFromSixteenThreads) {
  std::signal(SIGPIPE, SIG_IGN);
  ServerProcess s({"--max-batch", "8", "--max-queue", "64"});
  ASSERT_TRUE(s.ok());
  struct Job {
    std::string prompt;
    int max_tokens;
    bool stream;
  };
  // 12 (prompt, length) pairs, each sent 5-6 times, streaming and not.
  std::vector<Job> jobs;
  const int lens[4] = {3, 9, 17, 30};
  for (int i = 0; i < 64; ++i)
    jobs.push_back({kPrompts[i % kPrompts.size()], lens[(i % 12) / 6 * 2 + i % 2], i % 3 != 0});
  // Single-request references, one at a time.
  std::map<std::pair<std::string, int>, std::string> expected;
  for (const Job& j : jobs)
    if (!expected.count({j.prompt, j.max_tokens})) expected[{j.prompt, j.max_tokens}] = complete(s.port(), j.prompt, j.max_tokens);

  std::vector<std::string> got(jobs.size());
  std::vector<int> status(jobs.size(), 0);
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
        const Job& j = jobs[i];
        if (j.stream) {
          const SseResult r = post_stream(s.port(), "/v1/completions", completion_body(j.prompt, j.max_tokens, true));
          status[i] = r.done ? r.status : -1;
          got[i] = r.text();
        } else {
          httplib::Client c("127.0.0.1", s.port());
          c.set_read_timeout(client_read_timeout_s(), 0);
          auto r = c.Post("/v1/completions", completion_body(j.prompt, j.max_tokens, false), "application/json");
          status[i] = r ? r->status : -1;
          if (r && r->status == 200) got[i] = parse_json(r->body)["choices"][0]["text"];
        }
      }
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(status[i], 200) << "request " << i;
    EXPECT_EQ(got[i], (expected[{jobs[i].prompt, jobs[i].max_tokens}]))
        << "request " << i << " (" << jobs[i].prompt << ", " << jobs[i].max_tokens << (jobs[i].stream ? ", stream" : "")
        << ")";
  }
  auto m = s.client().Get("/metrics");
  ASSERT_TRUE(m);
  const double reqs = metric(m->body, "awqx_requests_total");
  EXPECT_EQ(reqs, 64 + static_cast<double>(expected.size())) << "every request ran exactly once";
}

TEST(ServeLoad, FullQueueAnswers503WithRetryAfter) {
  std::signal(SIGPIPE, SIG_IGN);
  ServerProcess s({"--max-batch", "1", "--max-queue", "1"});
  ASSERT_TRUE(s.ok());
  constexpr int kClients = 8;
  std::vector<int> status(kClients, 0);
  std::vector<std::string> retry_after(kClients);
  const auto post = [&](int i) {
    httplib::Client c("127.0.0.1", s.port());
    c.set_read_timeout(client_read_timeout_s(), 0);
    auto r = c.Post("/v1/completions",
                    json{{"prompt", "Once upon a time"}, {"max_tokens", 160}, {"ignore_eos", true}}.dump(),
                    "application/json");
    status[i] = r ? r->status : -1;
    if (r) retry_after[i] = r->get_header_value("Retry-After");
    if (r && r->status == 503) {
      EXPECT_EQ(parse_json(r->body)["error"]["code"], "overloaded");
    }
  };
  // Request 0 first, and only once it runs the burst: then the first of the burst to be admitted
  // finds an empty queue (so at least two succeed) whatever the scheduler's timing.
  std::vector<std::thread> threads;
  threads.emplace_back(post, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  double running = 0;
  while (running < 1 && std::chrono::steady_clock::now() < deadline) {
    auto m = s.client().Get("/metrics");
    if (m) running = metric(m->body, "awqx_requests_running");
    if (running < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(running, 1) << "request 0 never started running";  // not fatal: threads must be joined
  for (int i = 1; i < kClients; ++i) threads.emplace_back(post, i);
  for (auto& t : threads) t.join();
  int ok = 0, busy = 0;
  for (int i = 0; i < kClients; ++i) {
    if (status[i] == 200) ++ok;
    if (status[i] == 503) {
      ++busy;
      EXPECT_EQ(retry_after[i], "1");
    }
  }
  EXPECT_EQ(status[0], 200);
  EXPECT_EQ(ok + busy, kClients);
  EXPECT_GE(ok, 2);    // the running one and the first of the burst (queued)
  EXPECT_GE(busy, 1);  // 7 at once during a 160-token request cannot all fit in a queue of 1
  auto m = s.client().Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(metric(m->body, "awqx_requests_rejected_total"), busy);
}

TEST(ServeLoad, DisconnectStormFreesKvBlocks) {
  std::signal(SIGPIPE, SIG_IGN);
  ServerProcess s({"--max-batch", "8"});
  ASSERT_TRUE(s.ok());
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&, i] {
      const std::string body = json{{"prompt", kPrompts[i % kPrompts.size()]}, {"max_tokens", 200},
                                    {"ignore_eos", true}, {"stream", i % 4 != 0}}.dump();
      if (i % 4 != 0) {
        post_stream(s.port(), "/v1/completions", body, 300 + 50 * static_cast<size_t>(i));  // hang up mid-stream
      } else {
        httplib::Client c("127.0.0.1", s.port());
        c.set_read_timeout(0, 300000);  // gives up (closes) after 0.3 s
        c.Post("/v1/completions", body, "application/json");
      }
    });
  for (auto& t : threads) t.join();
  auto c = s.client();
  double used = -1;
  for (int i = 0; i < 100; ++i) {  // the engine drops cancelled sequences at its next step
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    used = metric(m->body, "awqx_kv_blocks_used");
    if (used == 0 && metric(m->body, "awqx_requests_running") == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(used, 0);
  auto m = c.Get("/metrics");
  EXPECT_GE(metric(m->body, "awqx_http_disconnects_total"), 12) << m->body;
  // and the server still answers
  EXPECT_FALSE(complete(s.port(), "Once upon a time", 4).empty());
}

}  // namespace
}  // namespace awqx_test

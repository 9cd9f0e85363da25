// Test helpers for `awqx serve`: start the CLI on a free loopback port, talk to it with
// cpp-httplib's client, read server-sent events.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "test_util.hpp"

namespace awqx_test {

inline std::string tiny_model() { return shared_path("models/tiny-llama-7m"); }

// `--backend NAME` for both `awqx serve` and `awqx generate` in the tests: an exact fp32 family
// makes FP linears run row by row for m > 1 (src/kernels/linear_fp.cpp), so a sequence's
// greedy tokens do not depend on what it is batched with: "avx512" or "avx2" (the best this CPU
// can use), else "ref". $AWQX_SERVE_TEST_BACKEND wins.
inline std::vector<std::string> backend_args() {
  static const std::vector<std::string> args = [] {
    if (const char* b = std::getenv("AWQX_SERVE_TEST_BACKEND"); b && *b) return std::vector<std::string>{"--backend", b};
    int rc = 0;
    const std::string out = run_command(cli_path() + " kernels 2>/dev/null", &rc);
    const char* family = out.find("usable avx512") != std::string::npos ? "avx512"
                         : out.find("usable avx2") != std::string::npos ? "avx2"
                                                                         : "ref";
    return std::vector<std::string>{"--backend", family};
  }();
  return args;
}

// One `awqx serve` child process. The constructor waits for "listening on http://HOST:PORT".
// Client read timeout: a request may wait its turn behind the whole load test's queue, and the
// sanitizer build (tools/test.sh exports AWQX_SANITIZER_BUILD) runs the model ~10x slower.
inline int client_read_timeout_s() { return std::getenv("AWQX_SANITIZER_BUILD") ? 600 : 60; }

class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> extra, const std::vector<std::string>& env = {}) {
    log_ = tmp_ / "serve.log";
    std::vector<std::string> args = {cli_path(), "serve", "--model", tiny_model(), "--port", "0", "--threads", "1"};
    for (auto& a : backend_args()) args.push_back(a);
    for (auto& a : extra) args.push_back(std::move(a));
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log_.c_str(), "w", stderr);
      (void)f;
      if (!std::freopen("/dev/null", "w", stdout)) _exit(126);
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    const std::string tag = "listening on http://";
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string log = this->log();
      const auto p = log.find(tag);
      if (p != std::string::npos && log.find('\n', p) != std::string::npos) {
        const std::string hostport = log.substr(p + tag.size(), log.find('\n', p) - p - tag.size());
        port_ = std::stoi(hostport.substr(hostport.rfind(':') + 1));
        return;
      }
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "awqx serve did not start; log:\n" << this->log();
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  bool ok() const { return port_ > 0; }
  std::string log() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  httplib::Client client(int read_timeout_s = 0) const {  // 0 = client_read_timeout_s()
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(read_timeout_s > 0 ? read_timeout_s : client_read_timeout_s(), 0);
    c.set_connection_timeout(5, 0);
    return c;
  }
  // SIGTERM, then waits up to `wait`; returns the exit code (-1: killed by a signal or hung).
  int stop(std::chrono::seconds wait = std::chrono::seconds(30)) {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    int st = 0;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        pid_ = -1;
        return exit_code_ = -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    return exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  TempDir tmp_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = -1;
  int exit_code_ = -1;
};

struct SseResult {
  int status = 0;
  std::vector<nlohmann::json> chunks;  // every data: line but [DONE]
  bool done = false;                   // saw data: [DONE]
  std::string raw;
  std::string text() const {  // concatenated text / delta.content
    std::string s;
    for (const auto& c : chunks) {
      if (!c.contains("choices") || c["choices"].empty()) continue;
      const auto& ch = c["choices"][0];
      if (ch.contains("text")) s += ch["text"].get<std::string>();
      if (ch.contains("delta") && ch["delta"].contains("content")) s += ch["delta"]["content"].get<std::string>();
    }
    return s;
  }
};

// POSTs and reads the SSE stream. stop_after_bytes > 0: closes the connection after that many
// body bytes (a client that goes away mid-stream).
inline SseResult post_stream(int port, const std::string& path, const std::string& body, size_t stop_after_bytes = 0,
                             const httplib::Headers& headers = {}) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(client_read_timeout_s(), 0);
  SseResult r;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    r.raw.append(data, n);
    return stop_after_bytes == 0 || r.raw.size() < stop_after_bytes;
  };
  httplib::Response res;
  httplib::Error err;
  c.send(req, res, err);
  r.status = res.status;
  std::istringstream is(r.raw);
  for (std::string line; std::getline(is, line);) {
    if (line.rfind("data: ", 0) != 0) continue;
    const std::string payload = line.substr(6);
    if (payload == "[DONE]") {
      r.done = true;
      continue;
    }
    r.chunks.push_back(nlohmann::json::parse(payload, nullptr, false));
  }
  return r;
}

inline nlohmann::json parse_json(const std::string& s) { return nlohmann::json::parse(s, nullptr, false); }

// Value of one Prometheus sample line "awqx_NAME VALUE" (-1 if missing).
inline double metric(const std::string& text, const std::string& name) {
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return -1;
}

}  // namespace awqx_test

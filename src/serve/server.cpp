// run_server: cpp-httplib setup (limits, timeouts, thread pool), bearer-key check, the small
// routes, JSON 404/413/500 bodies, and SIGINT/SIGTERM shutdown.
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "awqx/error.hpp"
#include "serve/client_watch.hpp"
#include "serve/server_state.hpp"

namespace awqx::serve {

void send_error(ServerState& st, httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_json(e), "application/json");
  ++(e.status >= 500 ? st.errors_5xx : st.errors_4xx);
}

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// Same time whatever the first differing byte (only the lengths may leak).
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// Every thread of the server inherits the CPU mask of the thread that starts it, and
// OMP_PROC_BIND pinned the process's first thread to the first core, where the engine thread
// (the OpenMP master, the critical path of every step) also runs: pinned there, every HTTP
// thread competed with it. unpin_this_thread() lets the kernel place them on any core of our
// cpuset. The worker threads also get a lower priority (nice), so a busy one takes spare time
// rather than the compute threads'; they mostly sleep, so they still run soon after they wake.
// The accepting thread keeps the normal priority: a starved accept loop lets a burst of
// connections overflow the listen backlog (SYN retries: seconds of delay, even resets).
// Measured on 2 vCPUs, tiny model, 16 streams: README.
constexpr int kHttpWorkerNice = 10;

void unpin_this_thread() {
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof all, &all);  // best effort: a failure leaves it pinned, which still works
}

// httplib's pool, its threads started from a helper thread that is unpinned and niced first
// (Linux: nice is per thread and inherited; raising it needs no privilege, undoing it would).
httplib::TaskQueue* make_worker_pool(size_t threads) {
  httplib::TaskQueue* pool = nullptr;
  std::thread([&] {
    unpin_this_thread();
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kHttpWorkerNice);
    pool = new httplib::ThreadPool(threads);
  }).join();
  return pool;
}

ApiError simple_error(int status, std::string type, std::string code, std::string message) {
  ApiError e;
  e.status = status;
  e.type = std::move(type);
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}

// Library errors (bad body size, unknown route, a handler's exception) get OpenAI-shaped bodies.
httplib::Server::HandlerResponse default_error(ServerState& st, const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours already
  ++(res.status >= 500 ? st.errors_5xx : st.errors_4xx);
  ApiError e;
  e.status = res.status;
  if (res.status == 404) {
    e.code = "not_found";
    e.message = "no route " + req.method + " " + req.path;
  } else if (res.status == 413) {
    e.code = "payload_too_large";
    e.message = "request body is larger than the server's limit (--max-body-kb)";
  } else if (res.status >= 500) {
    e.type = "server_error";
    e.message = "internal server error";
  } else {
    e.message = "bad request";
  }
  res.set_content(error_json(e), "application/json");
  return httplib::Server::HandlerResponse::Handled;
}

void install_routes(httplib::Server& svr, ServerState& st) {
  svr.set_pre_routing_handler([&st](const httplib::Request& req, httplib::Response& res) {
    ++st.requests;
    if (st.opts.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (constant_time_equal(auth, "Bearer " + st.opts.api_key)) return httplib::Server::HandlerResponse::Unhandled;
    send_error(st, res, simple_error(401, "invalid_request_error", "invalid_api_key",
                                     "missing or wrong API key: send 'Authorization: Bearer <key>'"));
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_header("Connection", "close");  // the body (if any) was not read
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.Post("/v1/completions", [&st](const httplib::Request& req, httplib::Response& res) {
    handle_generate(st, req, res, Route::completions);
  });
  svr.Post("/v1/chat/completions", [&st](const httplib::Request& req, httplib::Response& res) {
    handle_generate(st, req, res, Route::chat);
  });
  svr.Get("/v1/models", [&st](const httplib::Request&, httplib::Response& res) {
    res.set_content(models_json(st.model_id, st.started, st.engine.context_length()), "application/json");
  });
  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  svr.Get("/metrics", [&st](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(st.engine.metrics(), st.counters()), "text/plain; version=0.0.4");
  });
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [&st](const httplib::Request& req, httplib::Response& res) { return default_error(st, req, res); }));
  svr.set_exception_handler([&st](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal server error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(st, res, simple_error(500, "server_error", "", what));
  });
}

}  // namespace
}  // namespace awqx::serve

namespace awqx {

int run_server(Engine& engine, const Tokenizer& tokenizer, const std::string& model_dir, const ServeOptions& opts) {
  using serve::ServerState;
  if (opts.port < 0 || opts.port > 65535)
    throw Error(ErrorCode::invalid_argument, "", "--port", "expected 0..65535, found " + std::to_string(opts.port));
  if (opts.max_body_bytes == 0) throw Error(ErrorCode::invalid_argument, "", "--max-body-kb", "must be > 0");
  ServerState st(engine, tokenizer);
  st.opts = opts;
  st.chat_family = detect_chat_family(model_dir);
  st.model_id = opts.model_id.empty() ? std::filesystem::path(model_dir).lexically_normal().filename().string()
                                      : opts.model_id;
  if (st.model_id.empty()) st.model_id = std::filesystem::path(model_dir).lexically_normal().parent_path().filename().string();
  st.started = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();

  httplib::Server svr;
  const EngineOptions& eo = engine.options();
  const size_t threads = opts.n_http_threads > 0 ? static_cast<size_t>(opts.n_http_threads)
                                                 : static_cast<size_t>(eo.max_batch + eo.max_queue + 8);
  svr.new_task_queue = [threads] { return serve::make_worker_pool(threads); };
  svr.set_payload_max_length(opts.max_body_bytes);
  svr.set_read_timeout(opts.read_timeout_s, 0);
  svr.set_write_timeout(opts.write_timeout_s, 0);
  svr.set_keep_alive_timeout(opts.keep_alive_s);
  serve::install_routes(svr, st);

  const int port = opts.port == 0 ? svr.bind_to_any_port(opts.host) : (svr.bind_to_port(opts.host, opts.port) ? opts.port : -1);
  if (port <= 0)
    throw Error(ErrorCode::io, "", "--host/--port", "cannot listen on " + opts.host + ":" + std::to_string(opts.port));

  // httplib listens with a backlog of 5: 16 clients connecting at once overflowed it (SYN
  // retries, up to 31 s). listen() again on a listening socket only resizes its backlog.
  if (const int lfd = serve::find_listening_socket(port); lfd >= 0) ::listen(lfd, SOMAXCONN);

  // A closed client must give write() EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  serve::g_stop_signal = 0;
  auto old_int = std::signal(SIGINT, serve::on_stop_signal);
  auto old_term = std::signal(SIGTERM, serve::on_stop_signal);
  std::atomic<bool> listening_done{false};
  // Signal handlers may only set a flag; this thread does the stopping.
  std::thread watcher([&] {
    while (!serve::g_stop_signal && !listening_done) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (listening_done) return;
    // No new connections: shut the listening socket down, which ends httplib's accept loop;
    // listen_after_bind() then returns once the open handlers finish. (svr.stop() would also
    // make every chunked response stop at its next write: open streams would be cut short.)
    const int lfd = serve::find_listening_socket(port);
    if (lfd >= 0)
      ::shutdown(lfd, SHUT_RDWR);
    else
      svr.stop();
    engine.shutdown(std::chrono::milliseconds(static_cast<int64_t>(opts.grace_s * 1000)));
  });
  if (opts.on_listening) opts.on_listening(opts.host, port);
  // Accepts and serves on a thread of its own, so the caller's thread keeps its mask and priority.
  bool ok = false;
  std::thread listener([&] {
    serve::unpin_this_thread();
    ok = svr.listen_after_bind();
  });
  listener.join();
  listening_done = true;
  watcher.join();
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  if (!ok && !serve::g_stop_signal) throw Error(ErrorCode::io, "", "--host/--port", "the listening socket failed");
  return 0;
}

}  // namespace awqx

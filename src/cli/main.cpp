// awqx command-line entry point: parses the verb and maps awqx::Error to one stderr line and
// an exit code per error kind (see Error::exit_code).
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include "awqx/error.hpp"
#include "awqx/parallel.hpp"
#include "awqx/version.hpp"
#include "cli/commands.hpp"
#include "dist/world.hpp"

namespace awqx::cli {
namespace {
CLI::Validator bound_check(bool strict) {
  return CLI::Validator(
      [strict](std::string& v) -> std::string {
        double d = 0;
        try {
          size_t used = 0;
          d = std::stod(v, &used);
          if (used != v.size()) return "must be a number, got '" + v + "'";
        } catch (const std::exception&) {
          return "must be a number, got '" + v + "'";
        }
        if (strict ? d > 0 : d >= 0) return "";
        return std::string(strict ? "must be > 0" : "must be >= 0") + ", got " + v;
      },
      strict ? "POSITIVE" : "NONNEGATIVE");
}
}  // namespace
const CLI::Validator& non_negative() {
  static const CLI::Validator v = bound_check(false);
  return v;
}
const CLI::Validator& positive() {
  static const CLI::Validator v = bound_check(true);
  return v;
}
void add_run_flags(CLI::App* cmd, RunFlags& f) {
  cmd->add_option("--threads", f.threads, "worker threads (default: physical cores)")->check(non_negative());
  cmd->add_option("--backend", f.backend, "force a kernel by name (see `awqx kernels`)");
}
void add_kv_type_flag(CLI::App* cmd, KvType& out) {
  cmd->add_option_function<std::string>(
      "--kv-type", [&out](const std::string& v) { out = parse_kv_type(v, "--kv-type"); },
      "KV cache element type: f32, f16 (default), bf16");
}
void add_step_tokens_flag(CLI::App* cmd, int64_t& out) {
  cmd->add_option("--step-tokens", out,
                  "tokens per forward step: prefill chunk and batched-step cap (0 = 512; more = faster "
                  "prefill, more activation memory)")
      ->check(non_negative());
}
// Default threads: the physical cores, shared by the ranks on this node (hwloc counts the cores).
void apply_run_flags(const RunFlags& f) {
  const int ranks_here = dist::launcher_local_size();
  set_num_threads(f.threads > 0 || ranks_here <= 1 ? f.threads : std::max(1, physical_cores() / ranks_here));
}

Comm* g_world = nullptr;
Comm& world() { return g_world ? *g_world : local_comm(); }

// Thread pinning defaults: one OpenMP thread per core, kept there (OMP_PLACES=cores,
// OMP_PROC_BIND=close), so a thread's caches and the memory it first touched stay local to it.
// libgomp reads these variables in a constructor, before main(), so setting them here takes a
// re-exec; it happens only when the user set neither (their values always win), and
// AWQX_NO_PIN=1 skips it. If the exec fails we just run unpinned.
void pin_threads_by_default(char** argv) {
  if (std::getenv("OMP_PROC_BIND") || std::getenv("OMP_PLACES") || std::getenv("AWQX_NO_PIN")) return;
  // Several ranks on this node: the launcher binds each rank; pinning every rank's threads from
  // core 0 would stack them.
  if (dist::launcher_local_size() > 1) return;
  // The real path, not /proc/self/exe (which would rename the process to "exe" in ps/top).
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = '\0';
  setenv("OMP_PROC_BIND", "close", 0);
  setenv("OMP_PLACES", "cores", 0);
  execv(self, argv);
}

std::string g_command_line;
const std::string& command_line() { return g_command_line; }

// argv as one shell line; arguments with characters the shell would read are single-quoted.
std::string join_argv(int argc, char** argv) {
  std::string s = "awqx";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789-_./=,:@+") == std::string::npos;
    s += ' ';
    if (plain) {
      s += a;
      continue;
    }
    s += '\'';
    for (char c : a) s += c == '\'' ? std::string("'\\''") : std::string(1, c);
    s += '\'';
  }
  return s;
}
}  // namespace awqx::cli

namespace {
// One line per failure. With several ranks the line names the rank; a failure the other ranks
// know of (awqx::run_agreed) ends the job normally, any other aborts every rank (they may be
// waiting for this one in a collective).
int fail(int code, const std::string& msg) {
  awqx::Comm& w = awqx::cli::world();
  if (w.size() == 1) {
    std::fprintf(stderr, "awqx: error: %s\n", msg.c_str());
    return code;
  }
  std::fprintf(stderr, "awqx: error: rank %d of %d: %s\n", w.rank(), w.size(), msg.c_str());
  if (!w.failure_agreed) awqx::dist::abort_world(code);
  awqx::dist::finalize_world();
  return code;
}
}  // namespace

int main(int argc, char** argv) {
  awqx::cli::g_command_line = awqx::cli::join_argv(argc, argv);
  if (awqx::dist::launcher_world_size() > 1 && !awqx::dist::mpi_built()) {
    std::fprintf(stderr, "awqx: error: started by mpirun with %d ranks, but this awqx is built without MPI support "
                 "(install libopenmpi-dev and configure with -DAWQX_MPI=ON), or run it as one process\n",
                 awqx::dist::launcher_world_size());
    return 2;
  }
  // A file-size limit (ulimit -f) must give the write's EFBIG, i.e. a one-line "disk full"-style
  // error with the temp file removed, not SIGXFSZ's default: killed with a core dump.
  std::signal(SIGXFSZ, SIG_IGN);
  awqx::cli::pin_threads_by_default(argv);
  CLI::App app{"awqx: AWQ int4 quantization and fast CPU inference for Llama-family models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("awqx ") + awqx::version());
  awqx::cli::add_kernels_command(app);
  awqx::cli::add_generate_command(app);
  awqx::cli::add_ppl_command(app);
  awqx::cli::add_convert_command(app);
  awqx::cli::add_inspect_command(app);
  awqx::cli::add_quantize_command(app);
  awqx::cli::add_bench_kernels_command(app);
  awqx::cli::add_make_model_command(app);
  awqx::cli::add_bench_command(app);
  awqx::cli::add_devices_command(app);
  awqx::cli::add_serve_command(app);
  // Unknown first word: with verbs registered CLI11 only says "A subcommand is required"; name it.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* s : app.get_subcommands([](CLI::App*) { return true; })) known |= s->check_name(argv[1]);
    if (!known) {
      std::fprintf(stderr, "awqx: error: unknown verb '%s' (see awqx --help)\n", argv[1]);
      return static_cast<int>(CLI::ExitCodes::ExtrasError);
    }
  }
  try {
    awqx::cli::g_world = &awqx::dist::init_world(&argc, &argv);
    const awqx::Comm& w = awqx::cli::world();
    if (w.size() > 1 && argc > 1 && std::strcmp(argv[1], "quantize") != 0 && std::strcmp(argv[1], "ppl") != 0) {
      // Every rank sees the same verb: rank 0 alone says so and all end normally.
      if (w.rank() == 0)
        std::fprintf(stderr, "awqx: error: mpirun -np %d: only `awqx quantize` and `awqx ppl` run on several ranks, "
                     "not `awqx %s`\n", w.size(), argv[1]);
      awqx::dist::finalize_world();
      return 2;
    }
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parses the same arguments: rank 0 alone prints, all end normally. An error is
    // one line (CLI11's exit() adds "Run with --help ..."); --help goes through exit().
    int code = e.get_exit_code();
    if (awqx::cli::is_root()) {
      if (code == 0)
        app.exit(e);
      else
        std::fprintf(stderr, "awqx: error: %s (see --help)\n", e.what());
    }
    awqx::dist::finalize_world();
    return code;
  } catch (const awqx::RankFailed&) {  // the failed rank printed the line
    awqx::dist::finalize_world();
    return 1;
  } catch (const awqx::Error& e) {
    return fail(e.exit_code(), e.what());
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory");
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
  awqx::dist::finalize_world();
  return 0;
}

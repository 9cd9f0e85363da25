// awqx command-line entry point: parses the verb and maps awqx::Error to one stderr line and
// an exit code per error kind (see Error::exit_code).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include "awqx/error.hpp"
#include "awqx/parallel.hpp"
#include "awqx/version.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {
void add_run_flags(CLI::App* cmd, RunFlags& f) {
  cmd->add_option("--threads", f.threads, "worker threads (default: physical cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--backend", f.backend, "force a kernel by name (see `awqx kernels`)");
}
void add_kv_type_flag(CLI::App* cmd, KvType& out) {
  cmd->add_option_function<std::string>(
      "--kv-type", [&out](const std::string& v) { out = parse_kv_type(v, "--kv-type"); },
      "KV cache element type: f32, f16 (default), bf16");
}
void apply_run_flags(const RunFlags& f) { set_num_threads(f.threads); }

// Thread pinning defaults: one OpenMP thread per core, kept there (OMP_PLACES=cores,
// OMP_PROC_BIND=close), so a thread's caches and the memory it first touched stay local to it.
// libgomp reads these variables in a constructor, before main(), so setting them here takes a
// re-exec; it happens only when the user set neither (their values always win), and
// AWQX_NO_PIN=1 skips it. If the exec fails we just run unpinned.
void pin_threads_by_default(char** argv) {
  if (std::getenv("OMP_PROC_BIND") || std::getenv("OMP_PLACES") || std::getenv("AWQX_NO_PIN")) return;
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

int main(int argc, char** argv) {
  awqx::cli::g_command_line = awqx::cli::join_argv(argc, argv);
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
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const awqx::Error& e) {
    std::fprintf(stderr, "awqx: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "awqx: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "awqx: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

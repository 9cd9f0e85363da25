// Runs the built `awqx` binary as a child process and captures exit status, stdout and stderr.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace awqx_test {

struct CliResult {
  int exit_code = -1;   // -1: killed by a signal
  int signal = 0;
  std::string out, err;
  // Lines of stderr that are not empty.
  std::vector<std::string> err_lines() const {
    std::vector<std::string> lines;
    std::istringstream is(err);
    for (std::string l; std::getline(is, l);)
      if (!l.empty()) lines.push_back(l);
    return lines;
  }
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline CliResult run_cli(const std::vector<std::string>& args, const std::string& extra_env = "") {
  TempDir tmp;
  std::string cmd = extra_env;  // built by append: GCC 12 warns falsely (-Wrestrict) on a + chain
  cmd.append(" ").append(shell_quote(cli_path()));
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(tmp / "out") + " 2>" + shell_quote(tmp / "err") + " </dev/null";
  const int st = std::system(cmd.c_str());
  CliResult r;
  if (WIFEXITED(st)) {
    r.exit_code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    r.signal = WTERMSIG(st);
  }
  auto slurp = [](const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  // The shell reports a signal-killed child as 128+N.
  if (r.exit_code > 128 && r.exit_code < 160) r.signal = r.exit_code - 128;
  return r;
}

// The contract for every bad input: non-zero exit, no crash (signal), exactly one error line
// on stderr that mentions `must_mention` (the file or the field).
inline void expect_clean_error(const CliResult& r, const std::string& must_mention) {
  EXPECT_NE(r.exit_code, 0) << "stderr: " << r.err;
  EXPECT_EQ(r.signal, 0) << "crashed with signal " << r.signal << "; stderr: " << r.err;
  const auto lines = r.err_lines();
  ASSERT_FALSE(lines.empty()) << "no error message on stderr";
  const std::string& last = lines.back();
  EXPECT_NE(last.find("error"), std::string::npos) << last;
  EXPECT_NE(last.find(must_mention), std::string::npos) << "error line does not name '" << must_mention
                                                        << "': " << last;
}

}  // namespace awqx_test

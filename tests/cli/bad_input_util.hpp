// The strict form of issue 7's contract for one bad input run through the CLI: exit code != 0,
// not killed by a signal (no core dump), exactly one stderr line that names every given
// string (the file and the field), plus helpers to prove nothing was written or changed.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_runner.hpp"

namespace awqx_test {

inline std::string slurp_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Path -> FNV-1a of the bytes, for every regular file under `root` (or `root` itself if a file).
inline std::map<std::string, uint64_t> tree_hashes(const std::string& root) {
  namespace fs = std::filesystem;
  std::map<std::string, uint64_t> out;
  auto add = [&](const fs::path& p) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : slurp_file(p.string())) h = (h ^ c) * 1099511628211ull;
    out[p.string()] = h;
  };
  if (fs::is_regular_file(root)) {
    add(root);
  } else if (fs::is_directory(root)) {
    for (const auto& e : fs::recursive_directory_iterator(root))
      if (e.is_regular_file()) add(e.path());
  }
  return out;
}

// Progress lines are not errors: `awqx quantize` prints "[###...] layer i/n ..." per layer,
// `awqx make-model` "make-model: shard i/n written ...".
inline void expect_one_line_error(const CliResult& r, const std::vector<std::string>& must_mention) {
  EXPECT_NE(r.exit_code, 0) << "stderr: " << r.err;
  EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal << "; stderr: " << r.err;
  std::vector<std::string> lines;
  for (const auto& l : r.err_lines())
    if (!(l.rfind("[", 0) == 0 && l.find("] layer ") != std::string::npos) && l.rfind("make-model: shard ", 0) != 0)
      lines.push_back(l);
  ASSERT_EQ(lines.size(), 1u) << "expected exactly one stderr line, got:\n" << r.err;
  // AWQX_PRINT_ERRORS=1: print the message (docs/reliability.md's table is copied from these).
  if (std::getenv("AWQX_PRINT_ERRORS"))
    std::printf("[message] %s: exit %d: %s\n", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                r.exit_code, lines[0].c_str());
  EXPECT_NE(lines[0].find("error"), std::string::npos) << lines[0];
  for (const auto& m : must_mention) EXPECT_NE(lines[0].find(m), std::string::npos) << "no '" << m << "' in: " << lines[0];
}

// No `out`, no `out.tmp`, and no temp file ("*.tmp*") anywhere in `parent`.
inline void expect_no_leftovers(const std::string& parent, const std::string& out) {
  namespace fs = std::filesystem;
  EXPECT_FALSE(fs::exists(out)) << out << " was created";
  EXPECT_FALSE(fs::exists(out + ".tmp")) << out << ".tmp was left behind";
  if (!fs::is_directory(parent)) return;
  for (const auto& e : fs::recursive_directory_iterator(parent))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();
}

}  // namespace awqx_test

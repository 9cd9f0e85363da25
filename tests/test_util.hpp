// Test helpers shared by all test files.
#pragma once
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <random>
#include <string>

#include "awqx/error.hpp"

namespace awqx_test {

// Absolute path of the project root (set by CMake).
inline std::string source_dir() { return AWQX_SOURCE_DIR; }

// Path inside ../shared (beside the project root). Fails the test loudly when ../shared is
// missing: CI always has it, and a silent skip would hide a broken setup.
inline std::string shared_path(const std::string& rel) {
  const std::filesystem::path p = std::filesystem::path(AWQX_SOURCE_DIR) / ".." / "shared" / rel;
  if (!std::filesystem::exists(p)) {
    ADD_FAILURE() << "test asset missing: " << p.string()
                  << " (../shared must sit beside the project root)";
    throw std::runtime_error("missing test asset " + p.string());
  }
  return std::filesystem::weakly_canonical(p).string();
}

// A fresh empty temp directory, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("awqx_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Path of the built CLI binary.
inline std::string cli_path() { return AWQX_CLI_PATH; }

// Runs a shell command, returns its stdout; *rc gets the exit code (-1 if killed by a signal).
inline std::string run_command(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// Like run_command, but the command must succeed.
inline std::string run_ok(const std::string& cmd) {
  int rc = 0;
  std::string out = run_command(cmd, &rc);
  EXPECT_EQ(rc, 0) << cmd;
  return out;
}

// fn() must throw an awqx::Error of `code` whose message holds `needle`.
template <class F>
void expect_error(F&& fn, awqx::ErrorCode code, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown (expected one mentioning '" << needle << "')";
  } catch (const awqx::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace awqx_test

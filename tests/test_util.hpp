// Test helpers shared by all test files.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <random>
#include <string>

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

}  // namespace awqx_test

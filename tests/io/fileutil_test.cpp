// fileutil: atomic replacement, paths.
#include <gtest/gtest.h>

#include <filesystem>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "test_util.hpp"

TEST(FileUtil, AtomicReplaceAndAbandon) {
  awqx_test::TempDir tmp;
  const std::string p = tmp / "f.txt";
  awqx::write_file_atomic(p, "one");
  awqx::write_file_atomic(p, "two");
  EXPECT_EQ(awqx::read_file(p), "two");
  {
    awqx::AtomicFileWriter w(p);
    w.write("three", 5);
    // destroyed without commit: the old contents stay, no tmp file remains
  }
  EXPECT_EQ(awqx::read_file(p), "two");
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(tmp.path()); it != std::filesystem::directory_iterator(); ++it) ++n;
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(awqx::file_exists(p));
  EXPECT_FALSE(awqx::dir_exists(p));
  EXPECT_TRUE(awqx::dir_exists(tmp.path()));
  try {
    awqx::read_file(tmp / "missing");
    ADD_FAILURE();
  } catch (const awqx::Error& e) {
    EXPECT_EQ(e.code(), awqx::ErrorCode::io);
    EXPECT_EQ(e.file(), tmp / "missing");
  }
  awqx::remove_all(tmp / "nothing");  // no error
}

TEST(FileUtil, Paths) {
  EXPECT_EQ(awqx::path_join("a", "b"), "a/b");
  EXPECT_EQ(awqx::path_join("a/", "b"), "a/b");
  EXPECT_EQ(awqx::path_join("", "b"), "b");
  EXPECT_EQ(awqx::path_join("a", "/b"), "/b");
  EXPECT_EQ(awqx::basename_of("/x/y/model.safetensors"), "model.safetensors");
  EXPECT_EQ(awqx::basename_of("dir/"), "dir");
  EXPECT_EQ(awqx::basename_of("plain"), "plain");
}

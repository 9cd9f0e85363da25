// safetensors writer: format checked by the independent python reader, sharding, atomicity on
// disk-full and read-only targets.
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/safetensors.hpp"
#include "test_util.hpp"

using awqx::DType;
using awqx::ErrorCode;
using awqx::TensorView;
namespace fs = std::filesystem;

namespace {
using awqx_test::expect_error;
using awqx_test::run_ok;

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int>(i % 17) - 8);
  return v;
}

std::vector<TensorView> sample_tensors() {
  std::vector<TensorView> v;
  v.push_back(awqx::make_f32_tensor("z.f32", {3, 5}, ramp(15, 0.25f)));
  v.push_back(awqx::make_bf16_tensor("a.bf16", {7}, ramp(7, 0.5f)));
  v.push_back(awqx::make_f16_tensor("m.f16", {2, 3}, ramp(6, 0.125f)));
  v.push_back(awqx::make_tensor("q.i32", DType::I32, {2}, {1, 0, 0, 0, 2, 0, 0, 0}));
  v.push_back(awqx::make_tensor("u.u8", DType::U8, {3}, {9, 8, 7}));
  return v;
}

size_t count_entries(const std::string& dir) {
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir); it != fs::directory_iterator(); ++it) ++n;
  return n;
}

// A small tmpfs (root only); returns false if it cannot be mounted here.
struct TmpMount {
  std::string dir;
  bool ok = false;
  TmpMount(const std::string& d, const char* opts) : dir(d) {
    fs::create_directories(dir);
    ok = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts) == 0;
  }
  ~TmpMount() {
    if (ok) ::umount(dir.c_str());
  }
};

}  // namespace

TEST(SafetensorsWrite, PythonReadsWhatWeWrite) {
  awqx_test::TempDir tmp;
  const std::string p = tmp / "out.safetensors";
  awqx::write_safetensors(p, sample_tensors());
  // The python reader parses with json + struct independently of our reader.
  std::istringstream in(run_ok("/usr/bin/python3 " + awqx_test::source_dir() + "/tests/io/st_reference.py " + p));
  std::map<std::string, std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines[line.substr(0, line.find(' '))] = line;
  ASSERT_EQ(lines.size(), 5u);
  // Expected by hand: sum of scale*(i-8) over i<n: f32 0.25*(-15), bf16 0.5*(-35), f16 0.125*(-33).
  EXPECT_EQ(lines["z.f32"], "z.f32 F32 3x5 -3.75 2 -2");
  EXPECT_EQ(lines["a.bf16"], "a.bf16 BF16 7 -17.5 4 -4");
  EXPECT_EQ(lines["m.f16"], "m.f16 F16 2x3 -4.125 1 -1");
  EXPECT_EQ(lines["q.i32"].substr(0, 12), "q.i32 I32 2 ");

  // Header: 8-byte aligned, space padded, tensors in the order given, data contiguous.
  const std::string bytes = awqx::read_file(p);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_LT(header.find("\"z.f32\""), header.find("\"a.bf16\""));
  EXPECT_LT(header.find("\"a.bf16\""), header.find("\"u.u8\""));
  EXPECT_EQ(bytes.size(), 8 + n + 60 + 14 + 12 + 8 + 3);
  EXPECT_EQ(count_entries(tmp.path()), 1u);  // no tmp file left

  auto f = awqx::SafetensorsFile::open(p);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->names(), (std::vector<std::string>{"z.f32", "a.bf16", "m.f16", "q.i32", "u.u8"}));
  EXPECT_EQ(awqx::to_f32(f->get("a.bf16")), ramp(7, 0.5f));  // exactly representable in bf16
}

TEST(SafetensorsWrite, RejectsBadTensors) {
  awqx_test::TempDir tmp;
  auto t = sample_tensors();
  t.push_back(t[0]);
  expect_error([&] { awqx::write_safetensors(tmp / "x.safetensors", t); }, ErrorCode::invalid_argument, "z.f32");
  TensorView bad = t[0];
  bad.shape = {4, 5};
  expect_error([&] { awqx::write_safetensors(tmp / "x.safetensors", {bad}); }, ErrorCode::shape, "z.f32");
  EXPECT_EQ(count_entries(tmp.path()), 0u);
}

TEST(SafetensorsWrite, ShardedRoundTrip) {
  awqx_test::TempDir tmp;
  std::vector<TensorView> ts;
  for (int i = 0; i < 5; ++i) ts.push_back(awqx::make_f32_tensor("t" + std::to_string(i), {100}, ramp(100, i + 1.0f)));
  // 400 bytes each, 1000-byte shards -> 2+2+1 tensors.
  auto files = awqx::write_safetensors_sharded(tmp.path(), ts, awqx::parse_size("1000"));
  EXPECT_EQ(files, (std::vector<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                             "model-00003-of-00003.safetensors", "model.safetensors.index.json"}));
  auto idx = nlohmann::json::parse(awqx::read_file(tmp / "model.safetensors.index.json"));
  EXPECT_EQ(idx["metadata"]["total_size"], 2000);
  EXPECT_EQ(idx["weight_map"]["t4"], "model-00003-of-00003.safetensors");
  auto s = awqx::TensorStore::open_dir(tmp.path());
  EXPECT_EQ(s.names().size(), 5u);
  EXPECT_EQ(s.total_bytes(), 2000u);
  EXPECT_EQ(awqx::to_f32(s.get("t3")), ramp(100, 4.0f));
  // Everything fits: a single model.safetensors, and the stale index is gone.
  files = awqx::write_safetensors_sharded(tmp.path(), ts, awqx::parse_size("5GB"));
  EXPECT_EQ(files, std::vector<std::string>{"model.safetensors"});
  EXPECT_FALSE(awqx::file_exists(tmp / "model.safetensors.index.json"));
  EXPECT_EQ(awqx::TensorStore::open_dir(tmp.path()).get("t2").file, tmp / "model.safetensors");
}

TEST(SafetensorsWrite, ParseSize) {
  EXPECT_EQ(awqx::parse_size("5GB"), 5000000000u);
  EXPECT_EQ(awqx::parse_size("500MB"), 500000000u);
  EXPECT_EQ(awqx::parse_size("1GiB"), 1073741824u);
  EXPECT_EQ(awqx::parse_size("2kib"), 2048u);
  EXPECT_EQ(awqx::parse_size("123"), 123u);
  for (const char* s : {"", "GB", "5XB", "-1", "1.5GB", "0", "99999999999999999999", "20000000000TB"})
    expect_error([&] { awqx::parse_size(s, "--shard-size"); }, ErrorCode::invalid_argument, "--shard-size");
}

TEST(SafetensorsWrite, DiskFullLeavesNothing) {
  awqx_test::TempDir tmp;
  TmpMount m(tmp / "small", "size=64k");
  if (!m.ok) GTEST_SKIP() << "cannot mount a 64k tmpfs here (needs root): disk-full path untested";
  const std::string p = m.dir + "/model.safetensors";
  auto big = awqx::make_f32_tensor("big", {64, 1024}, std::vector<float>(64 * 1024, 1.0f));  // 256 KiB
  expect_error([&] { awqx::write_safetensors(p, {big}); }, ErrorCode::io, p);
  EXPECT_EQ(count_entries(m.dir), 0u);
  // The same through write_file_atomic.
  expect_error([&] { awqx::write_file_atomic(m.dir + "/x.txt", std::string(200000, 'x')); }, ErrorCode::io, "x.txt");
  EXPECT_EQ(count_entries(m.dir), 0u);
}

TEST(SafetensorsWrite, ReadOnlyLocation) {
  awqx_test::TempDir tmp;
  // Root ignores permission bits, so use a read-only mount when we can, else chmod.
  TmpMount m(tmp / "ro", "size=64k");
  std::string dir = m.dir;
  if (m.ok) {
    ASSERT_EQ(::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0);
  } else {
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    if (::access(dir.c_str(), W_OK) == 0) GTEST_SKIP() << "cannot make a read-only directory here";
  }
  expect_error([&] { awqx::write_safetensors(dir + "/model.safetensors", sample_tensors()); }, ErrorCode::io,
               dir + "/model.safetensors");
  EXPECT_EQ(count_entries(dir), 0u);
  if (!m.ok) fs::permissions(dir, fs::perms::owner_all);
}

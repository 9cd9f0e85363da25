// safetensors reader: a real model checked against an independent python reader, and one test
// per malformed input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/safetensors.hpp"
#include "io/io_test_util.hpp"
#include "test_util.hpp"

using awqx::DType;
using awqx::Error;
using awqx::ErrorCode;
using awqx_io_test::st_bytes;

namespace {
using awqx_test::expect_error;
using awqx_test::run_ok;

struct RefTensor {
  std::string dtype, shape;
  double sum, absmax, first;
};

std::map<std::string, RefTensor> python_reference(const std::string& file) {
  const std::string script = awqx_test::source_dir() + "/tests/io/st_reference.py";
  std::istringstream in(run_ok("/usr/bin/python3 " + script + " " + file));
  std::map<std::string, RefTensor> m;
  std::string name;
  RefTensor r;
  while (in >> name >> r.dtype >> r.shape >> r.sum >> r.absmax >> r.first) m[name] = r;
  return m;
}

std::string shape_x(const std::vector<int64_t>& s) {
  if (s.empty()) return "scalar";
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) o += 'x';
    o += std::to_string(s[i]);
  }
  return o;
}

// Expects `fn` to throw awqx::Error with the given code and a message mentioning `needle`.
awqx::SafetensorsFile& parse_str(const std::string& s) {
  static std::shared_ptr<awqx::SafetensorsFile> keep;
  static std::string buf;
  buf = s;
  keep = awqx::SafetensorsFile::parse("mem.safetensors", buf.data(), buf.size());
  return *keep;
}

}  // namespace

TEST(SafetensorsRead, TinyLlamaMatchesPythonReader) {
  const std::string path = awqx_test::shared_path("models/tiny-llama-7m/model.safetensors");
  const auto ref = python_reference(path);
  ASSERT_GT(ref.size(), 10u);
  auto f = awqx::SafetensorsFile::open(path);
  auto names = f->names();
  ASSERT_EQ(names.size(), ref.size());
  for (const auto& n : names) {
    ASSERT_TRUE(ref.count(n)) << n;
    const RefTensor& r = ref.at(n);
    auto t = f->get(n);
    EXPECT_EQ(awqx::dtype_name(t.dtype), r.dtype) << n;
    EXPECT_EQ(shape_x(t.shape), r.shape) << n;
    auto v = awqx::to_f32(t);
    double sum = 0, absmax = 0;
    for (float x : v) {
      sum += x;
      absmax = std::max(absmax, static_cast<double>(std::fabs(x)));
    }
    // Conversion is exact (bf16 -> f32 -> f64), so absmax and the first value must match bit for
    // bit; the sums differ only by summation order in double: n * eps * max|v| < 1e-9 here.
    EXPECT_EQ(absmax, r.absmax) << n;
    EXPECT_EQ(static_cast<double>(v[0]), r.first) << n;
    EXPECT_NEAR(sum, r.sum, 1e-9 * std::max(1.0, std::fabs(r.sum)) + 1e-9) << n;
  }
}

TEST(SafetensorsRead, TensorStoreSingleFileDir) {
  const std::string dir = awqx_test::shared_path("models/tiny-llama-7m");
  auto s = awqx::TensorStore::open_dir(dir);
  EXPECT_TRUE(s.has("model.embed_tokens.weight"));
  auto t = s.get("model.embed_tokens.weight");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{4096, 256}));
  EXPECT_EQ(t.dtype, DType::BF16);
  expect_error([&] { s.get("no.such.tensor"); }, ErrorCode::format, "no.such.tensor");
}

TEST(SafetensorsRead, AllDtypesAndMetadata) {
  // Hand-written header: one tensor per dtype, 2 elements each, laid out back to back.
  std::string hdr = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  const char* names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
  const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
  size_t off = 0;
  for (int i = 0; i < 10; ++i) {
    hdr += std::string(",\"t") + names[i] + "\":{\"dtype\":\"" + names[i] + "\",\"shape\":[2],\"data_offsets\":[" +
           std::to_string(off) + "," + std::to_string(off + 2 * sizes[i]) + "]}";
    off += 2 * sizes[i];
  }
  hdr += "}";
  data.assign(off, '\0');
  auto& f = parse_str(st_bytes(hdr, data));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.names().size(), 10u);
  EXPECT_EQ(f.names()[0], "tF64");  // file order = offset order
  for (int i = 0; i < 10; ++i) {
    auto t = f.get(std::string("t") + names[i]);
    EXPECT_EQ(std::string(awqx::dtype_name(t.dtype)), names[i]);
    EXPECT_EQ(t.nbytes, 2 * sizes[i]);
  }
  expect_error([&] { awqx::to_f32(f.get("tI32")); }, ErrorCode::dtype, "tI32");
}

TEST(SafetensorsRead, ZeroSizedAndScalarTensors) {
  auto& f = parse_str(st_bytes(
      R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",
      std::string(4, '\0')));
  EXPECT_EQ(f.get("e").nbytes, 0u);
  EXPECT_EQ(f.get("s").numel(), 1);
}

// ---- malformed inputs ------------------------------------------------------------------------

TEST(SafetensorsBad, TooShortForHeaderLength) {
  expect_error([] { parse_str("abc"); }, ErrorCode::format, "header length");
}

TEST(SafetensorsBad, HeaderLengthLargerThanFile) {
  std::string s = st_bytes("{}", "");
  s[0] = 100;  // claims 100 header bytes, file has 2
  expect_error([&] { parse_str(s); }, ErrorCode::format, "header length");
  s[7] = static_cast<char>(0xff);  // ~2^64: must not overflow into a "valid" length
  expect_error([&] { parse_str(s); }, ErrorCode::format, "header length");
}

TEST(SafetensorsBad, TruncatedFile) {
  // A real file cut short: the last tensor's bytes are missing.
  const std::string path = awqx_test::shared_path("models/tiny-llama-7m/model.safetensors");
  std::string bytes = awqx::read_file(path);
  bytes.resize(bytes.size() - 1000);
  awqx_test::TempDir tmp;
  awqx::write_file_atomic(tmp / "cut.safetensors", bytes);
  expect_error([&] { awqx::SafetensorsFile::open(tmp / "cut.safetensors"); }, ErrorCode::format,
               "inside the data region");
}

TEST(SafetensorsBad, OffsetsOutOfRange) {
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234")); },
               ErrorCode::format, "'a'");
  expect_error(
      [] {
        parse_str(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551616]}})",
                           "1234"));
      },
      ErrorCode::format, "'a'");
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", "1234")); },
               ErrorCode::format, "data_offsets");
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", "1234")); },
               ErrorCode::format, "begin <= end");
}

TEST(SafetensorsBad, Overlapping) {
  expect_error(
      [] {
        parse_str(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                           std::string(12, '\0')));
      },
      ErrorCode::format, "overlapping");
}

TEST(SafetensorsBad, DtypeBytesMismatch) {
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678")); },
               ErrorCode::shape, "expected 12 bytes");
  // Product overflow must be caught, not wrap around to a small number.
  expect_error(
      [] {
        parse_str(st_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", ""));
      },
      ErrorCode::shape, "'a'");
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "")); },
               ErrorCode::shape, "'a'");
}

TEST(SafetensorsBad, UnknownDtype) {
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}})", "1")); },
               ErrorCode::dtype, "F8_E9");
}

TEST(SafetensorsBad, BadJsonAndTypes) {
  expect_error([] { parse_str(st_bytes("{\"a\":", "")); }, ErrorCode::format, "valid JSON");
  expect_error([] { parse_str(st_bytes("[1,2]", "")); }, ErrorCode::format, "JSON object");
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":1,"shape":[1],"data_offsets":[0,1]}})", "1")); },
               ErrorCode::format, "dtype");
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})", "1")); },
               ErrorCode::format, "shape");
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", "1")); },
               ErrorCode::shape, "integer");
  expect_error([] { parse_str(st_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", "1")); },
               ErrorCode::format, "data_offsets");
  expect_error([] { parse_str(st_bytes(R"({"__metadata__":{"k":1}})", "")); }, ErrorCode::format, "__metadata__.k");
  expect_error([] { parse_str(st_bytes(R"({"a":5})", "")); }, ErrorCode::format, "'a'");
}

TEST(SafetensorsBad, MissingFileAndDir) {
  awqx_test::TempDir tmp;
  expect_error([&] { awqx::SafetensorsFile::open(tmp / "nope.safetensors"); }, ErrorCode::io, "nope.safetensors");
  expect_error([&] { awqx::TensorStore::open_dir(tmp.path()); }, ErrorCode::io, tmp.path());
  expect_error([&] { awqx::TensorStore::open_dir(tmp / "missing_dir"); }, ErrorCode::io, "missing_dir");
}

TEST(SafetensorsBad, IndexPointsToMissingFileOrTensor) {
  awqx_test::TempDir tmp;
  const std::string shard = st_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x");
  awqx::write_file_atomic(tmp / "model-00001-of-00001.safetensors", shard);
  awqx::write_file_atomic(tmp / "model.safetensors.index.json",
                          R"({"metadata":{},"weight_map":{"a":"model-00001-of-00001.safetensors",)"
                          R"("b":"model-00001-of-00001.safetensors"}})");
  auto s = awqx::TensorStore::open_dir(tmp.path());
  EXPECT_EQ(s.get("a").nbytes, 1u);
  expect_error([&] { s.get("b"); }, ErrorCode::format, "model.safetensors.index.json: 'b'");

  awqx::write_file_atomic(tmp / "model.safetensors.index.json",
                          R"({"weight_map":{"a":"model-00001-of-00002.safetensors"}})");
  expect_error([&] { awqx::TensorStore::open_dir(tmp.path()); }, ErrorCode::io, "model-00001-of-00002.safetensors");
  awqx::write_file_atomic(tmp / "model.safetensors.index.json", R"({"weight_map":{"a":"../x.safetensors"}})");
  expect_error([&] { awqx::TensorStore::open_dir(tmp.path()); }, ErrorCode::format, "'a'");
  awqx::write_file_atomic(tmp / "model.safetensors.index.json", R"({"weight_map":[1]})");
  expect_error([&] { awqx::TensorStore::open_dir(tmp.path()); }, ErrorCode::format, "weight_map");
}

// GGUF reader: hand-made files (tools/gen_fuzz_seeds.py writes them with Python's struct, an
// independent encoder) and every kind of truncation/corruption.
#include <gtest/gtest.h>

#include <cstring>

#include "awqx/error.hpp"
#include "awqx/gguf.hpp"
#include "awqx/tokenizer.hpp"
#include "tokenizer/vocab_vectors.hpp"

using namespace awqx;

namespace {
std::string seed(const std::string& name) {
  return awqx_test::slurp(awqx_test::source_dir() + "/tests/fuzz/corpus/gguf/" + name);
}
}  // namespace

TEST(Gguf, ParsesHandMadeV3) {
  const std::string b = seed("llama_v3.gguf");
  ASSERT_FALSE(b.empty());
  const GgufFile f = GgufFile::parse(b, "llama_v3.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model", ""), "llama");
  ASSERT_NE(f.get_string_array("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens")->size(), 10u);
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id", -1), 1);
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token", false));
  EXPECT_EQ((*f.get_num_array("tokenizer.ggml.scores"))[9], -6.0);
  EXPECT_THROW(f.get_int("tokenizer.ggml.model", 0), Error);  // a string, not an integer
}

TEST(Gguf, ParsesV2WithTensorInfo) {
  const GgufFile f = GgufFile::parse(seed("llama_v2_tensor.gguf"), "t.gguf");
  EXPECT_EQ(f.version(), 2u);
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.tensors()[0].name, "tok_embd.weight");
  EXPECT_EQ(f.tensors()[0].dims, (std::vector<uint64_t>{4, 10}));
  EXPECT_EQ(f.data_offset() % 32, 0u);
}

TEST(Gguf, NestedArraysAndF64) {
  const GgufFile f = GgufFile::parse(seed("gpt2_v3.gguf"), "g.gguf");
  ASSERT_NE(f.find("f64"), nullptr);
  EXPECT_EQ(f.find("f64")->num, 1.5);
  EXPECT_EQ(f.find("nested")->count, 1u);
}

TEST(Gguf, EveryTruncationIsAFormatError) {
  for (const char* name : {"llama_v3.gguf", "gpt2_v3.gguf", "llama_v2_tensor.gguf"}) {
    const std::string b = seed(name);
    // The v2 seed has padding after the header: cutting inside it is still a valid header.
    const size_t header_end = std::string(name) == "llama_v2_tensor.gguf" ? b.size() - 200 : b.size();
    for (size_t n = 0; n < header_end; ++n) {
      try {
        GgufFile::parse(std::string_view(b).substr(0, n), name);
        ADD_FAILURE() << name << " truncated to " << n << " bytes parsed";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::format);
      }
    }
  }
}

TEST(Gguf, CorruptHeaderFields) {
  std::string b = seed("llama_v3.gguf");
  std::string bad = b;
  bad[0] = 'X';
  EXPECT_THROW(GgufFile::parse(bad, "x"), Error);
  bad = b;
  const uint32_t v1 = 1;
  std::memcpy(&bad[4], &v1, 4);
  EXPECT_THROW(GgufFile::parse(bad, "x"), Error);
  bad = b;
  const uint64_t huge = ~uint64_t{0};
  std::memcpy(&bad[16], &huge, 8);  // metadata_kv_count
  EXPECT_THROW(GgufFile::parse(bad, "x"), Error);
  bad = b;
  std::memcpy(&bad[24], &huge, 8);  // first key's length
  EXPECT_THROW(GgufFile::parse(bad, "x"), Error);
}

TEST(Gguf, VocabFromHandMadeFile) {
  awqx_test::TempDir d;
  {
    std::ofstream(d / "v.gguf", std::ios::binary) << seed("llama_v3.gguf");
  }
  const auto tok = Tokenizer::load_file(d / "v.gguf");
  // "ab a" -> "▁ab" (merged by score), "▁a"; 'A' falls back to <0x41>; 'c' has no byte piece -> unk.
  EXPECT_EQ(tok->encode("ab aAc", true), (std::vector<int32_t>{1, 9, 7, 3, 0}));
  EXPECT_EQ(tok->decode({1, 9, 7, 3}), "ab aA");
}

TEST(Gguf, MissingFileIsIoError) {
  try {
    GgufFile::read("/nonexistent/x.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::io);
  }
}

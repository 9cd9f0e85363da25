// tiktoken rank files (Llama-3, Qwen2) against llama.cpp's vectors for those vocabularies
// (ids from the reference HF tokenizers).
#include <gtest/gtest.h>

#include "awqx/tokenizer.hpp"
#include "tokenizer/vocab_vectors.hpp"

using namespace awqx;
using awqx_test::shared_path;

namespace {
int count_matches(const Tokenizer& tok, const std::string& stem) {
  const auto cases = awqx_test::load_vocab_cases(stem);
  // 46 inputs (PROVENANCE.md counts 47: a split of the .inp leaves an empty tail).
  EXPECT_EQ(cases.size(), 46u);
  int ok = 0;
  for (const auto& c : cases) {
    const auto ids = tok.encode(c.text, false);  // llama.cpp's test adds no BOS
    EXPECT_EQ(ids, c.ids) << stem << " input '" << c.text << "' got " << awqx_test::ids_str(ids);
    ok += ids == c.ids;
    EXPECT_EQ(tok.decode(ids), c.text);
  }
  return ok;
}
}  // namespace

TEST(Tiktoken, Llama3VectorsAllMatch) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/llama3/tokenizer.model"));
  EXPECT_EQ(tok->vocab_size(), 128256);
  EXPECT_EQ(tok->bos_id(), 128000);
  EXPECT_TRUE(tok->is_eos(128001));
  EXPECT_TRUE(tok->is_eos(128009));
  EXPECT_EQ(count_matches(*tok, "ggml-vocab-llama-bpe.gguf"), 46);
  EXPECT_EQ(tok->piece_to_id("<|eot_id|>"), 128009);
  const auto ids = tok->encode("<|start_header_id|>user<|end_header_id|>", true);
  EXPECT_EQ(ids, (std::vector<int32_t>{128000, 128006, 882, 128007}));
}

TEST(Tiktoken, Qwen2VectorsAllMatch) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/qwen2/qwen.tiktoken"));
  EXPECT_EQ(tok->vocab_size(), 151646);
  EXPECT_EQ(tok->bos_id(), -1);
  EXPECT_FALSE(tok->add_bos());
  EXPECT_EQ(count_matches(*tok, "ggml-vocab-qwen2.gguf"), 46);
  EXPECT_EQ(tok->encode("<|im_start|>", true), (std::vector<int32_t>{151644}));
}

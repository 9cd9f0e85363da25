// tiktoken rank files (Llama-3, Qwen2) against llama.cpp's vectors for those vocabularies
// (ids from the reference HF tokenizers).
#include <gtest/gtest.h>

#include "awqx/tokenizer.hpp"
#include "tokenizer/vocab_vectors.hpp"

using namespace awqx;
using awqx_test::shared_path;

using awqx_test::count_matches;

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

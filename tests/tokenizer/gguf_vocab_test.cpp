// GGUF vocabularies (llama.cpp's own vocab files) against llama.cpp's expected ids.
#include <gtest/gtest.h>

#include <cmath>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/vocab_vectors.hpp"

using namespace awqx;
using awqx_test::shared_path;

using awqx_test::count_matches;

TEST(GgufVocab, Gpt2) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/ggml-vocab-gpt-2.gguf"));
  EXPECT_EQ(tok->kind(), "bpe-byte");
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(count_matches(*tok, "ggml-vocab-gpt-2.gguf", true), 46);
}

TEST(GgufVocab, LlamaSpm) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/ggml-vocab-llama-spm.gguf"));
  EXPECT_EQ(tok->kind(), "spm-scores");
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(count_matches(*tok, "ggml-vocab-llama-spm.gguf", true), 46);
}

TEST(GgufVocab, Phi3) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/ggml-vocab-phi-3.gguf"));
  EXPECT_EQ(tok->vocab_size(), 32064);
  EXPECT_TRUE(tok->is_eos(32000));
  EXPECT_EQ(count_matches(*tok, "ggml-vocab-phi-3.gguf", true), 46);
}

// Our score-based SPM engine (GGUF vocab) against libsentencepiece (Llama-2 tokenizer.model) on
// real text: two independent implementations of the same vocabulary must agree id for id.
TEST(GgufVocab, LlamaSpmEqualsSentencePieceOnRealText) {
  const auto gg = Tokenizer::load_file(shared_path("models/tokenizers/ggml-vocab-llama-spm.gguf"));
  const auto sp = Tokenizer::load_file(shared_path("models/tokenizers/llama2-tokenizer.model"));
  for (const char* f : {"data/wikitext2-test.txt", "data/war-and-peace.txt"}) {
    const std::string text = awqx_test::slurp(shared_path(f)).substr(0, 200000);
    const auto a = gg->encode(text, true), b = sp->encode(text, true);
    EXPECT_EQ(a.size(), b.size()) << f;
    EXPECT_TRUE(a == b) << f;
  }
}

// Regression (gguf_fuzz, UBSan): a token_type far outside int's range was cast to int.
TEST(GgufVocab, TokenTypeOutOfRangeIsNormal) {
  using awqx::tok::TokenType;
  EXPECT_EQ(awqx::tok::gguf_token_type(6), TokenType::byte);
  EXPECT_EQ(awqx::tok::gguf_token_type(3), TokenType::control);
  for (double t : {2.4902e9, -1.0, -3e12, 1e300, std::nan("")})
    EXPECT_EQ(awqx::tok::gguf_token_type(t), TokenType::normal) << t;
}

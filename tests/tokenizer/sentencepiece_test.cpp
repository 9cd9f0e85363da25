// SentencePiece tokenizer.model via libsentencepiece, checked against llama.cpp's Llama-2
// vectors (ids produced by the reference HF/sentencepiece tokenizer, not by us).
#include <gtest/gtest.h>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "tokenizer/tokenizer_internal.hpp"
#include "tokenizer/vocab_vectors.hpp"
#include <algorithm>
#include <fstream>

using namespace awqx;
using awqx_test::shared_path;

TEST(SentencePiece, Llama2VectorsAllMatch) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/llama2-tokenizer.model"));
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_TRUE(tok->is_eos(2));
  const auto cases = awqx_test::load_vocab_cases("ggml-vocab-llama-spm.gguf");
  ASSERT_EQ(cases.size(), 46u);
  int ok = 0;
  for (const auto& c : cases) {
    // llama.cpp's test encodes without BOS; the dummy-prefix space comes from the model.
    const auto ids = tok->encode(c.text, false);
    EXPECT_EQ(ids, c.ids) << "input '" << c.text << "' got " << awqx_test::ids_str(ids);
    ok += ids == c.ids;
  }
  EXPECT_EQ(ok, 46);
}

TEST(SentencePiece, BosOnlyWhenAsked) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/llama2-tokenizer.model"));
  const auto a = tok->encode("Hello world", true);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a[0], 1);
  EXPECT_EQ(a, (std::vector<int32_t>{1, 15043, 3186}));  // "Hello world" ids from the .out file
  EXPECT_EQ(tok->decode(a), "Hello world");
}

TEST(SentencePiece, TinyLlamaFolderRoundTripAndConfig) {
  const auto tok = Tokenizer::load(shared_path("models/tiny-llama-7m"));
  EXPECT_EQ(tok->kind(), "sentencepiece");
  EXPECT_EQ(tok->vocab_size(), 4096);
  EXPECT_EQ(tok->bos_id(), 1);
  ASSERT_EQ(tok->eos_ids().size(), 1u);
  EXPECT_EQ(tok->eos_ids()[0], 2);
  EXPECT_TRUE(tok->add_bos());
  const std::string text = "The Emperor Alexander, 1812 — naïve café; \"quoted\"\n\tnew line.  Two spaces.";
  const auto ids = tok->encode(text, true);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(tok->decode(ids), text);
}

TEST(SentencePiece, StreamingEqualsDecode) {
  const auto tok = Tokenizer::load(shared_path("models/tiny-llama-7m"));
  const std::string text = "Grüße, 世界! Ünïcödé 🙂 and plain words.";
  const auto ids = tok->encode(text, true);
  StreamDecoder sd(*tok, /*at_text_start=*/true);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = sd.push(id);
    // Every chunk handed out must itself be valid UTF-8.
    EXPECT_TRUE(tok::is_valid_utf8(piece)) << "chunk for id " << id;
    streamed += piece;
  }
  streamed += sd.flush();
  EXPECT_EQ(streamed, text);
}

TEST(SentencePiece, InvalidUtf8DoesNotThrow) {
  const auto tok = Tokenizer::load(shared_path("models/tiny-llama-7m"));
  const std::string bad = std::string("ok \xff\xfe bad \xc3") + "(" + std::string("\x80", 1);
  std::vector<int32_t> ids;
  EXPECT_NO_THROW(ids = tok->encode(bad, true));
  EXPECT_FALSE(ids.empty());
  // Invalid bytes become U+FFFD (documented): decoding gives the sanitized text.
  EXPECT_EQ(tok->decode(ids), "ok \xEF\xBF\xBD\xEF\xBF\xBD bad \xEF\xBF\xBD(\xEF\xBF\xBD");
}

TEST(SentencePiece, ControlPiecesInTextBecomeIds) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/llama2-tokenizer.model"));
  const auto ids = tok->encode("Hi</s><s>Yo", false);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 2), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), 1), ids.end());
}

TEST(SentencePiece, GarbageModelIsFormatError) {
  awqx_test::TempDir d;
  {
    std::ofstream f(d / "tokenizer.model", std::ios::binary);
    f << "\x0a\xff\xff\xff garbage";
  }
  try {
    Tokenizer::load(d.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::format);
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos);
  }
}

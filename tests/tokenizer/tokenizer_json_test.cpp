// HF tokenizer.json (BPE). Reference: libsentencepiece on the same model's tokenizer.model
// (Mistral v0.3 ships both), and llama.cpp's vectors after re-export (see gguf/llama2c tests).
#include <gtest/gtest.h>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "tokenizer/vocab_vectors.hpp"

using namespace awqx;
using awqx_test::shared_path;

TEST(TokenizerJson, MistralJsonMatchesSentencePiece) {
  const std::string dir = shared_path("models/tokenizers/mistral-7b-instruct-v0.3");
  const auto js = Tokenizer::load(dir);  // prefers tokenizer.json
  const auto sp = Tokenizer::load_file(dir + "/tokenizer.model");
  EXPECT_EQ(js->kind(), "bpe-spm");
  EXPECT_EQ(js->vocab_size(), 32768);
  EXPECT_EQ(js->bos_id(), 1);
  EXPECT_TRUE(js->add_bos());
  EXPECT_TRUE(js->is_eos(2));
  int n = 0, ok = 0;
  for (const auto& c : awqx_test::load_vocab_cases("ggml-vocab-llama-spm.gguf")) {
    const auto a = js->encode(c.text, true), b = sp->encode(c.text, true);
    EXPECT_EQ(a, b) << "input '" << c.text << "' json " << awqx_test::ids_str(a) << " sp " << awqx_test::ids_str(b);
    ++n;
    ok += a == b;
    EXPECT_EQ(js->decode(a), c.text);
  }
  std::cout << "mistral tokenizer.json == sentencepiece on " << ok << "/" << n << " inputs\n";
  const std::string text = awqx_test::slurp(shared_path("data/tinyshakespeare.txt")).substr(0, 100000);
  EXPECT_EQ(js->encode(text, true), sp->encode(text, true));
  // Added tokens are split out; Metaspace prepend_scheme "first" gives no dummy prefix after
  // them (libsentencepiece-style legacy encoding would add "▁" to every segment).
  EXPECT_EQ(js->encode("[INST] Hi [/INST]", true), (std::vector<int32_t>{1, 3, 16127, 29473, 4}));
}

// llama2.c tokenizer.bin and the tokenizer.json export. Goldens: the shared models' greedy
// ids/texts (made by Karpathy's run.c / model.py), llama.cpp's vocab vectors, libsentencepiece.
#include <gtest/gtest.h>

#include <sstream>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "tokenizer/vocab_vectors.hpp"

using namespace awqx;
using awqx_test::shared_path;

namespace {
std::vector<int32_t> read_ids(const std::string& rel) {
  std::istringstream in(awqx_test::slurp(shared_path(rel)));
  std::vector<int32_t> ids;
  int32_t x;
  while (in >> x) ids.push_back(x);
  return ids;
}

int count_matches(const Tokenizer& tok, const std::string& stem) {
  int ok = 0;
  for (const auto& c : awqx_test::load_vocab_cases(stem)) {
    const auto ids = tok.encode(c.text, false);
    EXPECT_EQ(ids, c.ids) << stem << " input '" << c.text << "' got " << awqx_test::ids_str(ids);
    ok += ids == c.ids;
  }
  return ok;
}
}  // namespace

TEST(Llama2c, GreedyIdsDecodeToText) {
  struct Case {
    const char* tok;
    const char* ids;
    const char* txt;
  } cases[] = {{"models/stories260K/tok512.bin", "models/stories260K/greedy200.ids", "models/stories260K/greedy200.txt"},
               {"models/aidreams260K/tok512.bin", "models/aidreams260K/greedy128.ids", "models/aidreams260K/greedy128.txt"},
               {"models/babyllama-tok105/tok105.bin", "models/babyllama-tok105/greedy200.ids", "models/babyllama-tok105/greedy200.txt"},
               {"models/babyllama-tok105/tok105.model", "models/babyllama-tok105/greedy200.ids", "models/babyllama-tok105/greedy200.txt"}};
  for (const auto& c : cases) {
    const auto tok = Tokenizer::load_file(shared_path(c.tok));
    const auto ids = read_ids(c.ids);
    ASSERT_GT(ids.size(), 100u) << c.ids;
    EXPECT_EQ(ids[0], tok->bos_id());
    const std::string want = awqx_test::slurp(shared_path(c.txt));
    EXPECT_EQ(tok->decode(ids), want) << c.tok;
    StreamDecoder sd(*tok, /*at_text_start=*/true);
    std::string streamed;
    for (int32_t id : ids) streamed += sd.push(id);
    streamed += sd.flush();
    EXPECT_EQ(streamed, want) << c.tok << " (streamed)";
  }
}

// The Llama-2 vocabulary in llama2.c format must tokenize like Llama-2 itself.
TEST(Llama2c, Llama2BinReproducesSpmVectors) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/llama2-tokenizer.llama2c.bin"));
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(count_matches(*tok, "ggml-vocab-llama-spm.gguf"), 46);
}

// tok105.bin (scores) against libsentencepiece on tok105.model: same ids on real text.
TEST(Llama2c, Tok105BinEncodesLikeSentencePiece) {
  const auto bin = Tokenizer::load_file(shared_path("models/babyllama-tok105/tok105.bin"));
  const auto sp = Tokenizer::load_file(shared_path("models/babyllama-tok105/tok105.model"));
  const std::string text = awqx_test::slurp(shared_path("data/tinystories-sample.txt"));
  const auto a = bin->encode(text, true), b = sp->encode(text, true);
  EXPECT_EQ(a, b);
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i]) {
      ADD_FAILURE() << "first difference at " << i << ": " << bin->id_to_piece(a[i]) << " vs " << sp->id_to_piece(b[i])
                    << " context '" << bin->decode(std::vector<int32_t>(a.begin() + (i > 5 ? i - 5 : 0), a.begin() + i + 3)) << "'";
      break;
    }
}

TEST(TokenizerExport, Llama2cToJsonKeepsIds) {
  for (const char* rel : {"models/stories260K/tok512.bin", "models/aidreams260K/tok512.bin",
                          "models/babyllama-tok105/tok105.bin"}) {
    awqx_test::TempDir d;
    write_tokenizer_json_from_llama2c(shared_path(rel), d.path());
    const auto js = Tokenizer::load(d.path());
    const auto bin = Tokenizer::load_file(shared_path(rel));
    EXPECT_EQ(js->kind(), "bpe-spm");
    EXPECT_EQ(js->bos_id(), 1);
    EXPECT_TRUE(js->add_bos());
    EXPECT_TRUE(js->is_eos(2));
    const std::string text = awqx_test::slurp(shared_path("data/tinystories-sample.txt")) +
                             awqx_test::slurp(shared_path("data/tinyshakespeare.txt")).substr(0, 50000);
    const auto a = js->encode(text, true);
    EXPECT_EQ(a, bin->encode(text, true)) << rel;
    EXPECT_EQ(js->decode(a), bin->decode(a)) << rel;
  }
}

TEST(TokenizerExport, Llama2cDecodesGreedyAfterExport) {
  awqx_test::TempDir d;
  write_tokenizer_json_from_llama2c(shared_path("models/stories260K/tok512.bin"), d.path());
  const auto js = Tokenizer::load(d.path());
  EXPECT_EQ(js->decode(read_ids("models/stories260K/greedy200.ids")),
            awqx_test::slurp(shared_path("models/stories260K/greedy200.txt")));
}

TEST(TokenizerExport, GgufToJsonReproducesVectors) {
  struct Case {
    const char* gguf;
    const char* stem;
  } cases[] = {{"ggml-vocab-gpt-2.gguf", "ggml-vocab-gpt-2.gguf"},
               {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-spm.gguf"},
               {"ggml-vocab-phi-3.gguf", "ggml-vocab-phi-3.gguf"}};
  for (const auto& c : cases) {
    awqx_test::TempDir d;
    write_tokenizer_json_from_gguf(shared_path(std::string("models/tokenizers/") + c.gguf), d.path());
    const auto js = Tokenizer::load(d.path());
    EXPECT_EQ(count_matches(*js, c.stem), 46) << c.gguf;
  }
}

TEST(TokenizerExport, TiktokenToJsonReproducesVectors) {
  const auto tt = Tokenizer::load_file(shared_path("models/tokenizers/llama3/tokenizer.model"));
  awqx_test::TempDir d;
  write_tokenizer_json(*tt, d.path());
  const auto js = Tokenizer::load(d.path());
  EXPECT_EQ(js->vocab_size(), 128256);
  EXPECT_EQ(js->bos_id(), 128000);
  EXPECT_EQ(count_matches(*js, "ggml-vocab-llama-bpe.gguf"), 46);
}

TEST(TokenizerExport, SentencePieceIsRefused) {
  const auto sp = Tokenizer::load(shared_path("models/tiny-llama-7m"));
  awqx_test::TempDir d;
  EXPECT_THROW(write_tokenizer_json(*sp, d.path()), Error);
}

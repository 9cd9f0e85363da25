// decode(encode(x)) == x on the real texts of ../shared/data, for every vocabulary family.
#include <gtest/gtest.h>

#include "awqx/tokenizer.hpp"
#include "tokenizer/vocab_vectors.hpp"

using namespace awqx;
using awqx_test::shared_path;

namespace {

// The first ~max_bytes of a data file, cut at a line end so no UTF-8 sequence is split.
std::string data_head(const std::string& name, size_t max_bytes = 300000) {
  std::string s = awqx_test::slurp(shared_path("data/" + name));
  if (s.size() > max_bytes) {
    const size_t nl = s.rfind('\n', max_bytes);
    s.resize(nl == std::string::npos ? max_bytes : nl + 1);
  }
  return s;
}

const char* kFiles[] = {"wikitext2-test.txt", "wikitext2-raw-test.txt", "tinyshakespeare.txt",
                        "war-and-peace.txt", "tinystories-sample.txt"};

void check_round_trip(const Tokenizer& tok, const std::string& label) {
  for (const char* f : kFiles) {
    const std::string text = data_head(f);
    const auto ids = tok.encode(text, true);
    ASSERT_FALSE(ids.empty());
    // Compression sanity: a working BPE makes several bytes per token on English text.
    EXPECT_LT(ids.size() * 2, text.size()) << label << " " << f;
    const std::string back = tok.decode(ids);
    if (back != text) {
      size_t k = 0;
      while (k < back.size() && k < text.size() && back[k] == text[k]) ++k;
      ADD_FAILURE() << label << " " << f << ": first difference at byte " << k << ": expected '"
                    << text.substr(k, 40) << "' got '" << back.substr(k, 40) << "'";
    }
  }
}

}  // namespace

TEST(TokenizerRoundTrip, TinyLlamaSentencePiece) {
  const auto tok = Tokenizer::load(shared_path("models/tiny-llama-7m"));
  check_round_trip(*tok, "tiny-llama-7m");
}

TEST(TokenizerRoundTrip, Llama3Tiktoken) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/llama3/tokenizer.model"));
  check_round_trip(*tok, "llama3");
}

TEST(TokenizerRoundTrip, Qwen2Tiktoken) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/qwen2/qwen.tiktoken"));
  check_round_trip(*tok, "qwen2");
}

// Byte-level BPE keeps arbitrary bytes, so even invalid UTF-8 round-trips exactly.
TEST(TokenizerRoundTrip, ByteLevelInvalidUtf8IsExact) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/llama3/tokenizer.model"));
  const std::string bad = "ab \xff\xfe cd \xc3(\x80 \xe2\x82 end\xf0";
  EXPECT_EQ(tok->decode(tok->encode(bad, false)), bad);
}

// Long runs of one character class must still split like the reference regex would (a too
// small PCRE2 JIT stack would silently give up and glue the rest of the text together).
TEST(TokenizerRoundTrip, LongWhitespaceRunsSplitNormally) {
  const auto tok = Tokenizer::load_file(shared_path("models/tokenizers/llama3/tokenizer.model"));
  const std::string tail = " hello world";
  const auto tail_ids = tok->encode(tail, false);
  const std::string text = std::string(200000, ' ') + "\n" + tail;
  const auto ids = tok->encode(text, false);
  EXPECT_EQ(tok->decode(ids), text);
  ASSERT_GE(ids.size(), tail_ids.size());
  EXPECT_EQ(std::vector<int32_t>(ids.end() - tail_ids.size(), ids.end()), tail_ids);
}

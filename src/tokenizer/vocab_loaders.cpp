// Vocabularies stored outside HF files: GGUF tokenizer.ggml.* metadata and llama2.c
// tokenizer.bin. Both become a BpeSpec for the shared engine.
#include <cstring>

#include "awqx/error.hpp"
#include "awqx/gguf.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx::tok {

// GGUF token_type values (llama.cpp llama_token_type).
TokenType gguf_token_type(double t) {
  // The value comes from an untrusted file: anything outside 0..255 (or NaN) is "normal", and
  // the range check must come first (casting an out-of-range double to int is UB; found by gguf_fuzz).
  if (!(t >= 0.0 && t < 256.0)) return TokenType::normal;
  switch (static_cast<int>(t)) {
    case 2: return TokenType::unknown;
    case 3: return TokenType::control;
    case 4: return TokenType::user_defined;
    case 5: return TokenType::control;  // unused: never produced by encode
    case 6: return TokenType::byte;
    default: return TokenType::normal;
  }
}

BpeSpec spec_from_gguf(const GgufFile& g) {
  const std::string& src = g.name();
  BpeSpec spec;
  spec.source = src;
  const std::string model = g.get_string("tokenizer.ggml.model", "");
  const auto* tokens = g.get_string_array("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty())
    throw Error::mismatch(ErrorCode::format, src, "tokenizer.ggml.tokens", "a non-empty string array", "none");
  const size_t n = tokens->size();
  spec.pieces = *tokens;
  spec.types.assign(n, TokenType::normal);
  if (const auto* tt = g.get_num_array("tokenizer.ggml.token_type")) {
    if (tt->size() != n)
      throw Error::mismatch(ErrorCode::format, src, "tokenizer.ggml.token_type", std::to_string(n) + " entries",
                            std::to_string(tt->size()));
    for (size_t i = 0; i < n; ++i) spec.types[i] = gguf_token_type((*tt)[i]);
  }
  auto id_key = [&](const char* key) -> int32_t {
    const int64_t v = g.get_int(key, -1);
    if (v < -1 || v >= static_cast<int64_t>(n))
      throw Error::mismatch(ErrorCode::format, src, key, "a token id in [0, " + std::to_string(n) + ")", std::to_string(v));
    return static_cast<int32_t>(v);
  };
  spec.bos_id = id_key("tokenizer.ggml.bos_token_id");
  if (const int32_t e = id_key("tokenizer.ggml.eos_token_id"); e >= 0) spec.eos_ids = {e};
  if (const int32_t e = id_key("tokenizer.ggml.eot_token_id"); e >= 0 && (spec.eos_ids.empty() || e != spec.eos_ids[0]))
    spec.eos_ids.push_back(e);
  spec.unk_id = id_key("tokenizer.ggml.unknown_token_id");
  for (size_t i = 0; i < n && spec.unk_id < 0; ++i)  // no key: the token typed "unknown"
    if (spec.types[i] == TokenType::unknown) spec.unk_id = static_cast<int32_t>(i);

  if (model == "llama") {
    spec.flavour = BpeFlavour::spm;
    spec.pair_mode = PairMode::score_by_concat;
    const auto* scores = g.get_num_array("tokenizer.ggml.scores");
    if (!scores || scores->size() != n)
      throw Error::mismatch(ErrorCode::format, src, "tokenizer.ggml.scores", std::to_string(n) + " entries",
                            scores ? std::to_string(scores->size()) : "none");
    spec.scores.assign(scores->begin(), scores->end());
    spec.add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix", true);
    spec.byte_fallback = true;
    spec.add_bos = g.get_bool("tokenizer.ggml.add_bos_token", true);
  } else if (model == "gpt2") {
    spec.flavour = BpeFlavour::byte_level;
    spec.pair_mode = PairMode::merges;
    spec.add_bos = g.get_bool("tokenizer.ggml.add_bos_token", false);
    PieceMap by_key;
    for (size_t i = 0; i < n; ++i) by_key.emplace((*tokens)[i], static_cast<int32_t>(i));
    std::string raw;
    for (size_t i = 0; i < n; ++i)
      if (spec.types[i] == TokenType::normal && unicode_to_bytes((*tokens)[i], raw)) spec.pieces[i] = raw;
    const auto* merges = g.get_string_array("tokenizer.ggml.merges");
    if (!merges) throw Error::mismatch(ErrorCode::format, src, "tokenizer.ggml.merges", "a string array", "none");
    for (size_t k = 0; k < merges->size(); ++k) {
      const std::string& m = (*merges)[k];
      const size_t sp = m.find(' ', 1);
      const auto ia = sp == std::string::npos ? by_key.end() : by_key.find(std::string_view(m).substr(0, sp));
      const auto ib = sp == std::string::npos ? by_key.end() : by_key.find(std::string_view(m).substr(sp + 1));
      if (ia == by_key.end() || ib == by_key.end())
        throw Error::mismatch(ErrorCode::format, src, "tokenizer.ggml.merges[" + std::to_string(k) + "]",
                              "two tokens separated by a space", "'" + m.substr(0, 60) + "'");
      spec.merges.emplace_back(ia->second, ib->second);
    }
    // llama.cpp's pre-tokenizer names for the vocabularies awqx knows.
    const std::string pre = g.get_string("tokenizer.ggml.pre", "default");
    if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3")
      spec.split_regexes = {kLlama3Regex};
    else if (pre == "qwen2")
      spec.split_regexes = {kQwen2Regex};
    else if (pre == "gpt-2" || pre == "default")
      spec.split_regexes = {kGpt2Regex};
    else
      throw Error(ErrorCode::unsupported_model, src, "tokenizer.ggml.pre", "unsupported pre-tokenizer '" + pre + "'");
  } else {
    throw Error(ErrorCode::unsupported_model, src, "tokenizer.ggml.model",
                "expected 'llama' or 'gpt2', found '" + model + "'");
  }
  for (size_t i = 0; i < n; ++i)
    if ((spec.types[i] == TokenType::control || spec.types[i] == TokenType::user_defined) && !spec.pieces[i].empty())
      spec.special_ids.push_back(static_cast<int32_t>(i));
  return spec;
}

// llama2.c tokenizer.bin: u32 max_token_length, then per token f32 score, u32 len, bytes.
// The token count is not stored: it is the number of records (the model header has it).
// llama2.c's export wrote "▁" as " " and BOS/EOS as "\n<s>\n" / "\n</s>\n"; both are undone so
// the vocabulary is the SentencePiece one again.
BpeSpec spec_from_llama2c(std::string_view data, const std::string& src) {
  BpeSpec spec;
  spec.source = src;
  spec.flavour = BpeFlavour::spm;
  spec.pair_mode = PairMode::score_by_concat;
  spec.byte_fallback = true;
  spec.add_space_prefix = true;
  size_t pos = 0;
  auto need = [&](size_t k, const std::string& field) {
    if (k > data.size() - pos)
      throw Error::mismatch(ErrorCode::format, src, field, std::to_string(k) + " more bytes",
                            std::to_string(data.size() - pos));
  };
  need(4, "max_token_length");
  uint32_t max_len;
  std::memcpy(&max_len, data.data(), 4);
  pos = 4;
  while (pos < data.size()) {
    const std::string field = "token " + std::to_string(spec.pieces.size());
    need(8, field);
    float score;
    uint32_t len;
    std::memcpy(&score, data.data() + pos, 4);
    std::memcpy(&len, data.data() + pos + 4, 4);
    pos += 8;
    if (len > max_len)
      throw Error::mismatch(ErrorCode::format, src, field, "length <= max_token_length " + std::to_string(max_len),
                            std::to_string(len));
    need(len, field);
    std::string piece(data.substr(pos, len));
    pos += len;
    if (!(score == score)) throw Error::mismatch(ErrorCode::format, src, field, "a finite score", "NaN");
    if (piece == "\n<s>\n") piece = "<s>";
    if (piece == "\n</s>\n") piece = "</s>";
    std::string sp;
    for (char c : piece) {
      if (c == ' ')
        sp += "\xE2\x96\x81";
      else
        sp += c;
    }
    spec.pieces.push_back(std::move(sp));
    spec.scores.push_back(score);
  }
  const size_t n = spec.pieces.size();
  if (n < 3) throw Error::mismatch(ErrorCode::format, src, "tokens", "at least 3 (unk, BOS, EOS)", std::to_string(n));
  spec.types.assign(n, TokenType::normal);
  // llama2.c fixes ids 0/1/2 as unk/BOS/EOS (run.c), whatever their text.
  spec.types[0] = TokenType::unknown;
  spec.types[1] = TokenType::control;
  spec.types[2] = TokenType::control;
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_ids = {2};
  spec.add_bos = true;
  for (size_t i = 3; i < n; ++i)
    if (parse_byte_piece(spec.pieces[i]) >= 0) spec.types[i] = TokenType::byte;
  spec.special_ids = {1, 2};
  return spec;
}

std::unique_ptr<Tokenizer> make_from_gguf(const std::string& path) { return make_bpe(spec_from_gguf(GgufFile::read(path))); }

std::unique_ptr<Tokenizer> make_from_llama2c(std::string_view data, const std::string& path) {
  return make_bpe(spec_from_llama2c(data, path));
}

}  // namespace awqx::tok

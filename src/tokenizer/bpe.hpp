// One BPE engine for every vocabulary that is not a SentencePiece proto:
//  - byte-level BPE (GPT-2, Llama-3, Qwen2): regex pre-split, pieces are raw bytes;
//  - SentencePiece-style BPE (HF Llama-2/Mistral tokenizer.json, GGUF "llama", llama2.c):
//    spaces become "▁", symbols start as UTF-8 characters, unknown ones fall back to <0xXX>.
// Merge priority comes from one of three sources (all "merge the best adjacent pair, leftmost
// on ties", the rule shared by HF tokenizers, tiktoken and llama.cpp's SPM tokenizer):
//  - merges: an explicit ranked pair list (tokenizer.json, GGUF merges);
//  - rank_by_concat: tiktoken; a pair merges if the concatenation is a token, rank = its id;
//  - score_by_concat: SentencePiece scores; a pair merges if the concatenation is a token,
//    higher score first (llama.cpp llm_tokenizer_spm, llama2.c run.c).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "awqx/tokenizer.hpp"

namespace awqx {
class GgufFile;
}

namespace awqx::tok {

enum class TokenType : uint8_t { normal, control, byte, unknown, user_defined };
enum class BpeFlavour : uint8_t { byte_level, spm };
enum class PairMode : uint8_t { merges, rank_by_concat, score_by_concat };

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Everything that defines a BPE tokenizer; loaders fill it, writers read it back.
struct BpeSpec {
  BpeFlavour flavour = BpeFlavour::byte_level;
  PairMode pair_mode = PairMode::merges;
  // Per id: the piece as raw bytes (byte-level: already mapped back from GPT-2's byte→unicode
  // alphabet; spm: text with "▁" for spaces), its type and score (score_by_concat only).
  std::vector<std::string> pieces;
  std::vector<TokenType> types;
  std::vector<float> scores;
  // Ranked merges (pair_mode == merges), as ids.
  std::vector<std::pair<int32_t, int32_t>> merges;
  // Byte-level: split regexes applied one after another (PCRE2 syntax, UTF + UCP).
  std::vector<std::string> split_regexes;
  bool add_prefix_space = false;  // byte-level: prepend " " (GPT-2 ByteLevel option)
  bool ignore_merges = false;     // emit a whole pre-token directly when it is a token (tiktoken)
  bool nfc = false;               // tokenizer.json asked for NFC (not applied: see tokenizer.hpp)
  // spm: prepend "▁" to the text (dummy prefix) and replace " " by "▁".
  bool add_space_prefix = true;
  bool prefix_all_segments = false;  // HF Prepend normalizer: "▁" before every text segment
  bool byte_fallback = true;
  int32_t unk_id = -1;
  // Tokens split out of the text before BPE (added/special tokens), by content.
  std::vector<int32_t> special_ids;
  int32_t bos_id = -1;
  std::vector<int32_t> eos_ids;
  bool add_bos = false;
  std::string source;  // file name for error messages
};

// Builds a tokenizer; validates the spec (ids in range, regexes compile) and throws
// Error{format} naming spec.source and the field otherwise.
std::unique_ptr<Tokenizer> make_bpe(BpeSpec spec);
// The spec of a tokenizer made by make_bpe, else nullptr.
const BpeSpec* bpe_spec_of(const Tokenizer& t);

// GPT-2's byte -> printable code point table (bytes_to_unicode()).
const std::vector<uint32_t>& byte_to_unicode();
// Maps a GPT-2-alphabet string back to raw bytes; false if a code point is outside the alphabet.
bool unicode_to_bytes(std::string_view s, std::string& out);
std::string bytes_to_unicode_str(std::string_view bytes);

// Derives ranked merges from scores: every split of a piece into two in-vocab pieces, ordered
// by the merged piece's score (descending), ties by merged id, then split position.
std::vector<std::pair<int32_t, int32_t>> merges_from_scores(const BpeSpec& spec);

// Vocabulary loaders (vocab_loaders.cpp); Error{format}/Error{unsupported_model} naming the field.
BpeSpec spec_from_llama2c(std::string_view data, const std::string& src);
BpeSpec spec_from_gguf(const GgufFile& g);
// tokenizer.ggml.token_type value -> TokenType; out-of-range / NaN values are "normal".
TokenType gguf_token_type(double t);

extern const char* const kGpt2Regex;
extern const char* const kLlama3Regex;
extern const char* const kQwen2Regex;

}  // namespace awqx::tok

// tiktoken rank files ("<base64 token> <rank>" per line): Meta Llama 3 tokenizer.model and
// Qwen's qwen.tiktoken. The file holds only the regular tokens; the special tokens, the split
// regex and BOS/EOS are fixed per family (Meta's llama3 tokenizer.py, Qwen2's tokenizer_config).
#include <string>

#include "awqx/error.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx::tok {
namespace {

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool b64_decode(std::string_view in, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return false;  // data after padding
    const int v = b64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return pad <= 2 && !out.empty();
}

}  // namespace

std::unique_ptr<Tokenizer> make_tiktoken(std::string_view data, std::string family, const std::string& path) {
  BpeSpec spec;
  spec.source = path;
  spec.flavour = BpeFlavour::byte_level;
  spec.pair_mode = PairMode::rank_by_concat;
  spec.ignore_merges = true;  // tiktoken emits a pre-token that is itself a token as is
  size_t line_no = 0;
  std::string tok;
  for (size_t pos = 0; pos < data.size();) {
    size_t e = data.find('\n', pos);
    if (e == std::string_view::npos) e = data.size();
    std::string_view line = data.substr(pos, e - pos);
    pos = e + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    const std::string field = "line " + std::to_string(line_no);
    if (sp == std::string_view::npos || !b64_decode(line.substr(0, sp), tok))
      throw Error::mismatch(ErrorCode::format, path, field, "'<base64> <rank>'", "'" + std::string(line.substr(0, 60)) + "'");
    uint64_t rank = 0;
    const std::string_view num = line.substr(sp + 1);
    if (num.empty() || num.size() > 9)
      throw Error::mismatch(ErrorCode::format, path, field, "a rank < 1e9", "'" + std::string(num) + "'");
    for (char c : num) {
      if (c < '0' || c > '9') throw Error::mismatch(ErrorCode::format, path, field, "a decimal rank", "'" + std::string(num) + "'");
      rank = rank * 10 + static_cast<uint64_t>(c - '0');
    }
    // Ranks are token ids; they must be dense, so each line must come in order.
    if (rank != spec.pieces.size())
      throw Error::mismatch(ErrorCode::format, path, field, "rank " + std::to_string(spec.pieces.size()),
                            std::to_string(rank));
    spec.pieces.push_back(tok);
  }
  const size_t n = spec.pieces.size();
  if (family.empty()) family = n >= 150000 ? "qwen2" : "llama3";
  spec.types.assign(n, TokenType::normal);
  auto add_special = [&](const std::string& s) {
    spec.special_ids.push_back(static_cast<int32_t>(spec.pieces.size()));
    spec.pieces.push_back(s);
    spec.types.push_back(TokenType::control);
  };
  if (family == "llama3") {
    spec.split_regexes = {kLlama3Regex};
    const char* named[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                           "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
                           "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
                           "<|reserved_special_token_4|>", "<|eot_id|>"};
    for (const char* s : named) add_special(s);
    for (int i = 5; i < 256 - 5; ++i) add_special("<|reserved_special_token_" + std::to_string(i) + "|>");
    spec.bos_id = static_cast<int32_t>(n);
    spec.eos_ids = {static_cast<int32_t>(n + 1), static_cast<int32_t>(n + 9)};  // end_of_text, eot_id
    spec.add_bos = true;
  } else if (family == "qwen2") {
    spec.split_regexes = {kQwen2Regex};
    spec.nfc = true;
    add_special("<|endoftext|>");
    add_special("<|im_start|>");
    add_special("<|im_end|>");
    spec.eos_ids = {static_cast<int32_t>(n), static_cast<int32_t>(n + 2)};  // endoftext, im_end
    spec.add_bos = false;
  } else {
    throw Error::mismatch(ErrorCode::invalid_argument, path, "tiktoken family", "llama3 or qwen2", "'" + family + "'");
  }
  return make_bpe(std::move(spec));
}

}  // namespace awqx::tok

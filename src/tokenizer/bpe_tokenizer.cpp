// BpeTokenizer: encode/decode on top of the merge engine (bpe_merge.cpp), for byte-level and
// SentencePiece-style vocabularies.
#include <algorithm>
#include <array>
#include <limits>

#include "awqx/error.hpp"
#include "tokenizer/bpe_impl.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx::tok {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // "▁"

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeSpec spec) {
    core_.spec = std::move(spec);
    validate_and_index();
  }

  const BpeSpec& spec() const { return core_.spec; }

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos && add_bos_ && bos_id_ >= 0) out.push_back(bos_id_);
    size_t start = 0;
    bool first_segment = true;
    for (size_t i = 0; i < text.size(); ++i) {
      const auto& cands = specials_by_byte_[static_cast<unsigned char>(text[i])];
      if (cands.empty()) continue;
      for (int32_t id : cands) {
        const std::string& p = core_.spec.pieces[id];
        if (text.compare(i, p.size(), p) != 0) continue;
        encode_segment(text.substr(start, i - start), first_segment, out);
        out.push_back(id);
        first_segment = false;
        i += p.size() - 1;
        start = i + 1;
        break;
      }
    }
    encode_segment(text.substr(start), first_segment, out);
    return out;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    bool at_start = true;
    for (int32_t id : ids) {
      out += decode_token(id, at_start);
      if (id != bos_id_) at_start = false;  // only the first piece of text loses its space
    }
    return out;
  }

  std::string decode_token(int32_t id, bool at_text_start) const override {
    const auto& s = core_.spec;
    if (id < 0 || id >= vocab_size()) return "";
    switch (s.types[id]) {
      case TokenType::control: return id == bos_id_ ? "" : s.pieces[id];
      case TokenType::byte: {
        const int b = parse_byte_piece(s.pieces[id]);
        if (b >= 0) return std::string(1, static_cast<char>(b));
        break;
      }
      default: break;
    }
    if (s.flavour == BpeFlavour::byte_level) return s.pieces[id];
    std::string out;
    const std::string& p = s.pieces[id];
    out.reserve(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      if (p.compare(i, 3, kSpace) == 0) {
        out += ' ';
        i += 2;
      } else {
        out += p[i];
      }
    }
    if (at_text_start && s.add_space_prefix && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(core_.spec.pieces.size()); }
  std::string id_to_piece(int32_t id) const override {
    if (id < 0 || id >= vocab_size()) return "";
    // Byte-level pieces are stored as raw bytes; show them in the GPT-2 alphabet like HF does.
    if (core_.spec.flavour == BpeFlavour::byte_level && core_.spec.types[id] == TokenType::normal)
      return bytes_to_unicode_str(core_.spec.pieces[id]);
    return core_.spec.pieces[id];
  }
  int32_t piece_to_id(std::string_view piece) const override {
    auto it = all_.find(piece);
    if (it != all_.end()) return it->second;
    if (core_.spec.flavour == BpeFlavour::byte_level) {
      std::string raw;
      if (unicode_to_bytes(piece, raw) && (it = all_.find(std::string_view(raw))) != all_.end()) return it->second;
    }
    return -1;
  }
  std::string kind() const override {
    if (core_.spec.flavour == BpeFlavour::byte_level) return "bpe-byte";
    return core_.spec.pair_mode == PairMode::score_by_concat ? "spm-scores" : "bpe-spm";
  }

 private:
  void fail(const std::string& field, const std::string& msg) const {
    throw Error(ErrorCode::format, core_.spec.source, field, msg);
  }

  void validate_and_index() {
    BpeSpec& s = core_.spec;
    const size_t n = s.pieces.size();
    if (n == 0) fail("vocab", "expected at least one token, found 0");
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2)) fail("vocab", "expected < 2^30 tokens");
    if (s.types.empty()) s.types.assign(n, TokenType::normal);
    if (s.types.size() != n)
      fail("token_type", "expected " + std::to_string(n) + " entries, found " + std::to_string(s.types.size()));
    if (s.scores.empty()) s.scores.assign(n, 0.0f);
    if (s.scores.size() != n)
      fail("scores", "expected " + std::to_string(n) + " entries, found " + std::to_string(s.scores.size()));
    auto check_id = [&](int64_t id, const char* field, bool allow_none) {
      if ((allow_none && id == -1) || (id >= 0 && static_cast<size_t>(id) < n)) return;
      fail(field, "expected a token id in [0, " + std::to_string(n) + "), found " + std::to_string(id));
    };
    check_id(s.bos_id, "bos_token_id", true);
    for (auto e : s.eos_ids) check_id(e, "eos_token_id", false);
    check_id(s.unk_id, "unk_token", true);
    for (auto id : s.special_ids) check_id(id, "added_tokens", false);

    for (size_t i = 0; i < n; ++i) {
      if (s.pieces[i].empty() && s.types[i] == TokenType::normal) continue;  // unreachable piece
      all_.emplace(s.pieces[i], static_cast<int32_t>(i));
      if (s.types[i] == TokenType::normal) core_.mergeable.emplace(s.pieces[i], static_cast<int32_t>(i));
    }
    if (s.pair_mode == PairMode::merges) {
      core_.merge_map.reserve(s.merges.size());
      for (size_t r = 0; r < s.merges.size(); ++r) {
        const auto [a, b] = s.merges[r];
        check_id(a, "merges", false);
        check_id(b, "merges", false);
        const auto it = core_.mergeable.find(s.pieces[a] + s.pieces[b]);
        if (it == core_.mergeable.end()) continue;  // result not a token: the merge can never apply
        core_.merge_map.emplace((static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b),
                                std::pair<int32_t, int32_t>(static_cast<int32_t>(r), it->second));
      }
    }
    // Initial symbols: single bytes (byte-level) or byte-fallback pieces (spm).
    byte_ids_.fill(-1);
    for (size_t i = 0; i < n; ++i) {
      const std::string& p = s.pieces[i];
      if (s.flavour == BpeFlavour::byte_level) {
        if (p.size() == 1 && s.types[i] == TokenType::normal && byte_ids_[static_cast<unsigned char>(p[0])] < 0)
          byte_ids_[static_cast<unsigned char>(p[0])] = static_cast<int32_t>(i);
      } else if (s.types[i] == TokenType::byte) {
        const int b = parse_byte_piece(p);
        if (b >= 0 && byte_ids_[b] < 0) byte_ids_[b] = static_cast<int32_t>(i);
      }
    }
    for (const auto& re : s.split_regexes) regexes_.push_back(std::make_unique<Regex>(re, s.source));
    for (int32_t id : s.special_ids) {
      if (s.pieces[id].empty()) continue;
      specials_by_byte_[static_cast<unsigned char>(s.pieces[id][0])].push_back(id);
    }
    // Longest match first.
    for (auto& v : specials_by_byte_)
      std::stable_sort(v.begin(), v.end(),
                       [&](int32_t a, int32_t b) { return s.pieces[a].size() > s.pieces[b].size(); });
    // spm: a text can be cut before a "▁" that follows another character when no mergeable
    // piece has "▁" after its leading run (true for SentencePiece vocabularies trained with
    // split_by_whitespace, e.g. Llama-2's "▁▁▁▁" is fine, "a▁b" would not be).
    chunkable_ = s.flavour == BpeFlavour::spm;
    for (const auto& [p, id] : core_.mergeable) {
      size_t k = 0;
      while (p.compare(k, 3, kSpace) == 0) k += 3;
      if (p.find(kSpace, k) != std::string::npos) {
        chunkable_ = false;
        break;
      }
    }
    bos_id_ = s.bos_id;
    eos_ids_ = s.eos_ids;
    add_bos_ = s.add_bos && bos_id_ >= 0;
  }

  void encode_segment(std::string_view text, bool first_segment, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    if (core_.spec.flavour == BpeFlavour::byte_level)
      encode_byte_level(text, first_segment, out);
    else
      encode_spm(text, first_segment, out);
  }

  void encode_byte_level(std::string_view text, bool first_segment, std::vector<int32_t>& out) const {
    std::string prefixed;
    if (core_.spec.add_prefix_space && first_segment && text[0] != ' ') {
      prefixed = " " + std::string(text);
      text = prefixed;
    }
    std::vector<std::string_view> chunks{text}, next;
    for (const auto& re : regexes_) {
      next.clear();
      for (auto c : chunks) re->split(c, next);
      chunks.swap(next);
    }
    std::vector<int32_t> syms;
    for (auto c : chunks) {
      if (core_.spec.ignore_merges) {
        const auto it = core_.mergeable.find(c);
        if (it != core_.mergeable.end()) {
          out.push_back(it->second);
          continue;
        }
      }
      syms.clear();
      for (char ch : c) syms.push_back(byte_ids_[static_cast<unsigned char>(ch)]);
      core_.merge(syms);
      for (int32_t id : syms) {
        if (id >= 0)
          out.push_back(id);
        else if (core_.spec.unk_id >= 0)
          out.push_back(core_.spec.unk_id);  // a byte the vocabulary lacks (broken vocab)
      }
    }
  }

  void encode_spm(std::string_view text, bool first_segment, std::vector<int32_t>& out) const {
    const BpeSpec& s = core_.spec;
    std::string norm;
    norm.reserve(text.size() + 8);
    if (s.add_space_prefix && (first_segment || s.prefix_all_segments)) norm += kSpace;
    for (char c : text) {
      if (c == ' ')
        norm += kSpace;
      else
        norm += c;
    }
    // Words are merged one chunk at a time when no piece can span a word start (see
    // chunkable_): same ids, a much smaller heap.
    constexpr size_t kChunk = 1024;
    size_t start = 0;
    while (start < norm.size()) {
      size_t end = norm.size();
      if (chunkable_ && norm.size() - start > kChunk) {
        end = start + kChunk;
        while (end < norm.size() && !(norm.compare(end, 3, kSpace) == 0 && !ends_with_space(norm, end))) ++end;
      }
      merge_spm_chunk(std::string_view(norm).substr(start, end - start), out);
      start = end;
    }
  }

  static bool ends_with_space(const std::string& s, size_t end) {
    return end >= 3 && s.compare(end - 3, 3, kSpace) == 0;
  }

  void merge_spm_chunk(std::string_view norm, std::vector<int32_t>& out) const {
    const BpeSpec& s = core_.spec;
    // Symbols are UTF-8 characters; an invalid byte is a symbol of its own (it then falls back
    // to its <0xXX> piece, so even non-UTF-8 input round-trips when the vocabulary has them).
    std::vector<int32_t> syms;
    std::vector<std::pair<uint32_t, uint32_t>> spans;
    for (size_t i = 0; i < norm.size();) {
      size_t len = utf8_valid_len(norm, i);
      if (len == 0) len = 1;
      const auto it = core_.mergeable.find(norm.substr(i, len));
      syms.push_back(it == core_.mergeable.end() ? -1 - static_cast<int32_t>(spans.size()) : it->second);
      spans.emplace_back(static_cast<uint32_t>(i), static_cast<uint32_t>(len));
      i += len;
    }
    core_.merge(syms);
    bool prev_unk = false;
    for (int32_t id : syms) {
      if (id >= 0) {
        out.push_back(id);
        prev_unk = false;
        continue;
      }
      const auto [off, len] = spans[static_cast<size_t>(-1 - id)];
      bool done = false;
      if (s.byte_fallback) {
        done = true;
        for (uint32_t k = 0; k < len; ++k)
          if (byte_ids_[static_cast<unsigned char>(norm[off + k])] < 0) done = false;
        if (done)
          for (uint32_t k = 0; k < len; ++k) out.push_back(byte_ids_[static_cast<unsigned char>(norm[off + k])]);
      }
      // Runs of unknown characters become one unk, as libsentencepiece and HF (fuse_unk) do.
      if (!done && s.unk_id >= 0 && !(prev_unk && !out.empty() && out.back() == s.unk_id)) out.push_back(s.unk_id);
      prev_unk = !done;
    }
  }

  BpeCore core_;
  PieceMap all_;
  std::array<int32_t, 256> byte_ids_{};
  std::vector<std::unique_ptr<Regex>> regexes_;
  std::array<std::vector<int32_t>, 256> specials_by_byte_;
  bool chunkable_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe(BpeSpec spec) { return std::make_unique<BpeTokenizer>(std::move(spec)); }

const BpeSpec* bpe_spec_of(const Tokenizer& t) {
  const auto* b = dynamic_cast<const BpeTokenizer*>(&t);
  return b ? &b->spec() : nullptr;
}

}  // namespace awqx::tok

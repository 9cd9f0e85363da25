// SentencePiece tokenizer.model through libsentencepiece (exact Llama-2 / Mistral behaviour:
// normalization, dummy prefix, byte fallback all come from the model proto).
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdint>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "awqx/error.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx::tok {
namespace {

// Reads a protobuf varint at data[i]; false on truncation / overlong.
bool read_varint(std::string_view data, size_t& i, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (i >= data.size()) return false;
    const auto c = static_cast<unsigned char>(data[i++]);
    v |= static_cast<uint64_t>(c & 0x7F) << shift;
    if (c < 0x80) return true;
  }
  return false;
}

void write_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

struct NormalizerInfo {
  bool add_dummy_prefix = true;  // proto default
  bool identity = false;         // normalizer name "identity": text is not rewritten
};

// Reads name (1) and add_dummy_prefix (3) from a NormalizerSpec message.
void read_normalizer(std::string_view m, NormalizerInfo& info) {
  size_t i = 0;
  while (i < m.size()) {
    uint64_t key, v;
    if (!read_varint(m, i, key)) return;
    const uint64_t wire = key & 7;
    if (wire == 0) {
      if (!read_varint(m, i, v)) return;
      if ((key >> 3) == 3) info.add_dummy_prefix = v != 0;
    } else if (wire == 2) {
      if (!read_varint(m, i, v) || v > m.size() - i) return;
      if ((key >> 3) == 1) info.identity = m.substr(i, v) == "identity";
      i += v;
    } else if (wire == 1 || wire == 5) {
      i += wire == 1 ? 8 : 4;
    } else {
      return;
    }
  }
}

// Returns the ModelProto with normalizer_spec.remove_extra_whitespaces and add_dummy_prefix
// forced to false (fields appended to the sub-message: in protobuf the last value of a scalar
// field wins), and reports the original settings in `info`.
// Why remove_extra_whitespaces: libsentencepiece's default collapses runs of spaces and strips
// leading/trailing ones, so decode(encode(x)) != x for models trained with defaults
// (tiny-llama-7m). HF's LlamaTokenizerFast, which perplexity numbers are usually computed
// with, keeps every space; Llama-2's own model already sets the flag to false, so its ids are
// unchanged. Why add_dummy_prefix: encode() adds the prefix itself so it can cut long texts
// into chunks (see encode_plain).
// Returns "" when the bytes do not parse as a protobuf message (libsentencepiece then reports).
std::string patch_normalizer(std::string_view data, NormalizerInfo& info) {
  std::string out;
  out.reserve(data.size() + 8);
  size_t i = 0;
  while (i < data.size()) {
    const size_t field_start = i;
    uint64_t key;
    if (!read_varint(data, i, key)) return "";
    const uint64_t field = key >> 3, wire = key & 7;
    uint64_t v;
    if (wire == 0) {
      if (!read_varint(data, i, v)) return "";
    } else if (wire == 1 || wire == 5) {
      const size_t n = wire == 1 ? 8 : 4;
      if (data.size() - i < n) return "";
      i += n;
    } else if (wire == 2) {
      if (!read_varint(data, i, v) || v > data.size() - i) return "";
      if (field == 3) {  // NormalizerSpec
        std::string sub(data.substr(i, v));
        read_normalizer(sub, info);
        sub += std::string("\x20\x00", 2);  // field 4 (remove_extra_whitespaces) = false
        sub += std::string("\x18\x00", 2);  // field 3 (add_dummy_prefix) = false
        write_varint(out, key);
        write_varint(out, sub.size());
        out += sub;
        i += v;
        continue;
      }
      i += v;
    } else {
      return "";
    }
    out.append(data.substr(field_start, i - field_start));
  }
  return out;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::string& serialized, const std::string& path) {
    const std::string patched = patch_normalizer(serialized, norm_);
    const auto st = sp_.LoadFromSerializedProto(patched.empty() ? std::string_view(serialized) : patched);
    if (!st.ok())
      throw Error(ErrorCode::format, path, "ModelProto",
                  "expected a SentencePiece model, found unparsable data (" + st.ToString() + ")");
    n_ = sp_.GetPieceSize();
    if (n_ <= 0) throw Error(ErrorCode::format, path, "pieces", "expected at least one piece, found 0");
    bos_id_ = sp_.bos_id();
    if (sp_.eos_id() >= 0) eos_ids_ = {sp_.eos_id()};
    add_bos_ = bos_id_ >= 0;
    for (int32_t id = 0; id < n_; ++id)
      if (sp_.IsControl(id) && !sp_.IdToPiece(id).empty()) specials_.emplace_back(sp_.IdToPiece(id), id);
    // Cutting the text before a space that follows a non-space character is exact when no
    // piece can span that point: "▁" may only appear in a piece's leading run (Llama-2 has
    // "▁▁▁▁" but no "a▁"), and the normalizer must not rewrite text across it.
    chunkable_ = norm_.identity;
    for (int32_t id = 0; id < n_ && chunkable_; ++id) {
      const std::string& p = sp_.IdToPiece(id);
      size_t k = 0;
      while (p.compare(k, 3, "\xE2\x96\x81") == 0) k += 3;
      if (p.find("\xE2\x96\x81", k) != std::string::npos || p.find(' ', k) != std::string::npos) chunkable_ = false;
    }
    // Longest first so "</s>" wins over a shorter prefix.
    std::sort(specials_.begin(), specials_.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    for (const auto& sp : specials_) first_byte_[static_cast<unsigned char>(sp.first[0])] = true;
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> out;
    if (add_bos && add_bos_ && bos_id_ >= 0) out.push_back(bos_id_);
    // Control pieces written literally ("<s>", "</s>", "[INST]" in Mistral v3) become their ids,
    // as in HF's LlamaTokenizer; the text between them is encoded separately.
    size_t start = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      if (!first_byte_[static_cast<unsigned char>(text[i])]) continue;
      for (const auto& [piece, id] : specials_) {
        if (text.compare(i, piece.size(), piece) != 0) continue;
        encode_plain(text.substr(start, i - start), out);
        out.push_back(id);
        i += piece.size() - 1;
        start = i + 1;
        break;
      }
    }
    encode_plain(text.substr(start), out);
    return out;
  }

  void encode_plain(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    // libsentencepiece replaces invalid UTF-8 by U+FFFD itself; sanitizing first makes that
    // explicit and independent of the library version.
    std::string buf;
    if (norm_.add_dummy_prefix) buf += ' ';
    if (is_valid_utf8(text))
      buf.append(text);
    else
      buf += sanitize_utf8(text);
    // libsentencepiece's BPE is slow on one huge string (seconds for 1 MB); chunks of ~1 KB cut
    // at word starts give the same ids (see chunkable_) in a fraction of the time.
    constexpr size_t kChunk = 1024;
    std::vector<int> ids;
    size_t start = 0;
    while (start < buf.size()) {
      size_t end = buf.size();
      if (chunkable_ && buf.size() - start > kChunk) {
        end = start + kChunk;
        while (end < buf.size() && !(buf[end] == ' ' && buf[end - 1] != ' ')) ++end;
      }
      const auto st = sp_.Encode(std::string_view(buf).substr(start, end - start), &ids);
      if (!st.ok()) throw Error(ErrorCode::internal, "", "encode", "sentencepiece: " + st.ToString());
      out.insert(out.end(), ids.begin(), ids.end());
      start = end;
    }
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    // Runs of ordinary ids go through libsentencepiece; control ids in between are written as
    // their text (BOS as nothing), so text with literal "</s>" round-trips.
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      std::string part;
      const auto st = sp_.Decode(run, &part);
      if (!st.ok()) throw Error(ErrorCode::internal, "", "decode", "sentencepiece: " + st.ToString());
      // Drop the dummy-prefix space of every run (the proto's flag is off, see
      // patch_normalizer): that mirrors encode(), which gives every text segment between
      // control pieces its own dummy prefix.
      if (norm_.add_dummy_prefix && !part.empty() && part[0] == ' ' &&
          sp_.IdToPiece(run[0]).rfind("\xE2\x96\x81", 0) == 0)
        part.erase(0, 1);
      out += part;
      run.clear();
    };
    for (int32_t id : ids) {
      if (id < 0 || id >= n_) continue;
      if (sp_.IsControl(id)) {
        flush();
        if (id != bos_id_) out += sp_.IdToPiece(id);
        continue;
      }
      run.push_back(id);
    }
    flush();
    return out;
  }

  std::string decode_token(int32_t id, bool at_text_start) const override {
    if (id < 0 || id >= n_ || sp_.IsUnused(id) || id == bos_id_) return "";
    if (sp_.IsControl(id)) return sp_.IdToPiece(id);
    if (sp_.IsUnknown(id)) return " \xE2\x81\x87 ";  // what libsentencepiece prints for unk
    const std::string& piece = sp_.IdToPiece(id);
    if (sp_.IsByte(id)) {
      const int b = parse_byte_piece(piece);
      return b >= 0 ? std::string(1, static_cast<char>(b)) : std::string();
    }
    std::string out;
    out.reserve(piece.size());
    for (size_t i = 0; i < piece.size(); ++i) {
      if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
        out += ' ';
        i += 2;
      } else {
        out += piece[i];
      }
    }
    // The decoder drops the dummy-prefix space of the first piece of the text.
    if (at_text_start && norm_.add_dummy_prefix && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }

  int32_t vocab_size() const override { return n_; }
  std::string id_to_piece(int32_t id) const override {
    return id >= 0 && id < n_ ? sp_.IdToPiece(id) : std::string();
  }
  int32_t piece_to_id(std::string_view piece) const override {
    const int id = sp_.PieceToId(piece);
    // PieceToId returns unk for unknown pieces: only report a real match.
    if (id == sp_.unk_id() && piece != sp_.IdToPiece(id)) return -1;
    return id;
  }
  std::string kind() const override { return "sentencepiece"; }

 private:
  sentencepiece::SentencePieceProcessor sp_;
  int32_t n_ = 0;
  std::vector<std::pair<std::string, int32_t>> specials_;
  std::array<bool, 256> first_byte_{};
  NormalizerInfo norm_;
  bool chunkable_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> make_sentencepiece(const std::string& serialized, const std::string& path) {
  return std::make_unique<SentencePieceTokenizer>(serialized, path);
}

}  // namespace awqx::tok

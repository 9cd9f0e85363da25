// Export of any BPE-engine vocabulary as an HF tokenizer.json (+ tokenizer_config.json), so a
// converted model folder works with every awqx verb and with HF tokenizers.
// Score-based vocabularies (GGUF "llama", llama2.c) have no merge list: it is derived, every
// split of a piece into two in-vocab pieces ranked by the merged piece's score. HF's BPE (best
// rank first) then makes the same choices as SentencePiece's best-score-first loop, except for
// ties between different pieces of equal score (none in the vocabularies tested here).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "awqx/error.hpp"
#include "awqx/gguf.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx {
namespace {
using ojson = nlohmann::json;  // ordered_json does linear key lookups: too slow for 128k keys
using tok::BpeFlavour;
using tok::BpeSpec;
using tok::PairMode;
using tok::TokenType;

// tmp + fsync + rename: the file appears whole or not at all.
void write_atomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::io, path, "", std::string("cannot create: ") + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(ErrorCode::io, path, "", std::string("write failed: ") + std::strerror(e));
    }
    off += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::io, path, "", std::string("fsync/close failed: ") + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::io, path, "", std::string("rename failed: ") + std::strerror(e));
  }
}

std::string vocab_key(const BpeSpec& s, size_t id) {
  if (s.flavour == BpeFlavour::byte_level && s.types[id] == TokenType::normal) return tok::bytes_to_unicode_str(s.pieces[id]);
  return s.pieces[id];
}

void write_spec(const BpeSpec& s, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  const size_t n = s.pieces.size();
  ojson vocab = ojson::object();
  for (size_t i = 0; i < n; ++i) {
    if (s.pieces[i].empty()) continue;
    vocab.emplace(vocab_key(s, i), i);  // a duplicate piece keeps its first id
  }
  std::vector<std::pair<int32_t, int32_t>> merges = s.merges;
  if (s.pair_mode != PairMode::merges) {
    BpeSpec ranked = s;
    if (s.pair_mode == PairMode::rank_by_concat)
      for (size_t i = 0; i < n; ++i) ranked.scores[i] = -static_cast<float>(i);
    merges = tok::merges_from_scores(ranked);
  }
  ojson merges_json = ojson::array();
  for (const auto& [a, b] : merges) merges_json.push_back(ojson::array({vocab_key(s, a), vocab_key(s, b)}));

  ojson added = ojson::array();
  for (int32_t id : s.special_ids)
    added.push_back({{"id", id}, {"content", s.pieces[id]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", s.types[id] == TokenType::control}});

  ojson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  if (s.flavour == BpeFlavour::byte_level) {
    j["normalizer"] = s.nfc ? ojson{{"type", "NFC"}} : ojson(nullptr);
    ojson pre = ojson::array();
    for (const auto& r : s.split_regexes)
      pre.push_back({{"type", "Split"}, {"pattern", {{"Regex", r}}}, {"behavior", "Isolated"}, {"invert", false}});
    pre.push_back({{"type", "ByteLevel"}, {"add_prefix_space", s.add_prefix_space}, {"trim_offsets", true}, {"use_regex", false}});
    j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", pre}};
  } else {
    j["normalizer"] = nullptr;
    const char* scheme = !s.add_space_prefix ? "never" : s.prefix_all_segments ? "always" : "first";
    j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", scheme}, {"split", false}};
  }
  if (s.add_bos && s.bos_id >= 0) {
    const std::string b = s.pieces[s.bos_id];
    j["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single", ojson::array({{{"SpecialToken", {{"id", b}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"pair", ojson::array({{{"SpecialToken", {{"id", b}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                               {{"SpecialToken", {{"id", b}, {"type_id", 1}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
        {"special_tokens", {{b, {{"id", b}, {"ids", ojson::array({s.bos_id})}, {"tokens", ojson::array({b})}}}}}};
  } else {
    j["post_processor"] = nullptr;
  }
  if (s.flavour == BpeFlavour::byte_level) {
    j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  } else {
    ojson decs = ojson::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                               {{"type", "ByteFallback"}}, {{"type", "Fuse"}}});
    if (s.add_space_prefix) decs.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    j["decoder"] = {{"type", "Sequence"}, {"decoders", decs}};
  }
  ojson model = {{"type", "BPE"}, {"dropout", nullptr}};
  model["unk_token"] = s.unk_id >= 0 ? ojson(s.pieces[s.unk_id]) : ojson(nullptr);
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = false;
  model["byte_fallback"] = s.flavour == BpeFlavour::spm && s.byte_fallback;
  model["ignore_merges"] = s.ignore_merges;
  model["vocab"] = std::move(vocab);
  model["merges"] = std::move(merges_json);
  j["model"] = std::move(model);
  write_atomic((std::filesystem::path(out_dir) / "tokenizer.json").string(), j.dump(1));

  ojson cfg;
  cfg["tokenizer_class"] = "PreTrainedTokenizerFast";
  cfg["add_bos_token"] = s.add_bos && s.bos_id >= 0;
  cfg["add_eos_token"] = false;
  cfg["bos_token"] = s.bos_id >= 0 ? ojson(s.pieces[s.bos_id]) : ojson(nullptr);
  cfg["eos_token"] = !s.eos_ids.empty() ? ojson(s.pieces[s.eos_ids[0]]) : ojson(nullptr);
  if (s.unk_id >= 0) cfg["unk_token"] = s.pieces[s.unk_id];
  write_atomic((std::filesystem::path(out_dir) / "tokenizer_config.json").string(), cfg.dump(2));
}

}  // namespace

void write_tokenizer_json(const Tokenizer& t, const std::string& out_dir) {
  const BpeSpec* s = tok::bpe_spec_of(t);
  if (!s)
    throw Error(ErrorCode::unsupported_model, out_dir, "tokenizer",
                "cannot export a '" + t.kind() + "' tokenizer as tokenizer.json (copy tokenizer.model instead)");
  BpeSpec copy = *s;
  // BOS/EOS as the loaded tokenizer has them (folder configs may have overridden the file).
  copy.bos_id = t.bos_id();
  copy.eos_ids = t.eos_ids();
  copy.add_bos = t.add_bos();
  write_spec(copy, out_dir);
}

// Both go through make_bpe first so the vocabulary is validated before anything is written.
void write_tokenizer_json_from_gguf(const std::string& gguf_path, const std::string& out_dir) {
  write_tokenizer_json(*tok::make_from_gguf(gguf_path), out_dir);
}

void write_tokenizer_json_from_llama2c(const std::string& bin_path, const std::string& out_dir) {
  write_tokenizer_json(*tok::make_from_llama2c(tok::read_whole_file(bin_path), bin_path), out_dir);
}

}  // namespace awqx

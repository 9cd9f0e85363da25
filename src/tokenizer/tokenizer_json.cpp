// HF tokenizer.json (model type BPE) -> BpeSpec. Understood components:
//  normalizer: null | NFC (noted, not applied) | Prepend("▁") | Replace(" "→"▁") | Sequence
//  pre_tokenizer: null | ByteLevel | Split(Regex|String, Isolated) | Metaspace | Sequence
//  post_processor: TemplateProcessing (a leading SpecialToken = BOS) | Sequence | others ignored
//  decoder: implied by the flavour (byte-level or "▁"+byte fallback), so it is not interpreted.
// Anything else is Error{unsupported_model} naming the JSON key, never a silent misencode.
#include <nlohmann/json.hpp>

#include "awqx/error.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx::tok {
namespace {
using nlohmann::json;

struct Ctx {
  const std::string& src;
  [[noreturn]] void fail(const std::string& field, const std::string& expected, const std::string& found) const {
    throw Error::mismatch(ErrorCode::format, src, field, expected, found);
  }
  [[noreturn]] void unsupported(const std::string& field, const std::string& what) const {
    throw Error(ErrorCode::unsupported_model, src, field, "unsupported " + what);
  }
};

std::string type_of(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "";
  return j["type"].get<std::string>();
}

bool contains_type(const json& j, const std::string& t) {
  if (!j.is_object()) return false;
  if (type_of(j) == t) return true;
  for (const char* k : {"pretokenizers", "decoders", "normalizers", "processors"})
    if (j.contains(k) && j[k].is_array())
      for (const auto& e : j[k])
        if (contains_type(e, t)) return true;
  return false;
}

// Escapes a literal string for PCRE2.
std::string regex_quote(const std::string& s) { return "\\Q" + s + "\\E"; }

void read_normalizer(const json& n, BpeSpec& spec, const Ctx& c, const std::string& field) {
  if (n.is_null()) return;
  const std::string t = type_of(n);
  if (t == "Sequence") {
    if (!n.contains("normalizers") || !n["normalizers"].is_array()) c.fail(field + ".normalizers", "an array", n.dump().substr(0, 60));
    for (const auto& e : n["normalizers"]) read_normalizer(e, spec, c, field);
  } else if (t == "NFC") {
    spec.nfc = true;
  } else if (t == "Prepend" && spec.flavour == BpeFlavour::spm && n.value("prepend", json()) == "\xE2\x96\x81") {
    spec.add_space_prefix = true;
    spec.prefix_all_segments = true;  // the normalizer runs on every segment between added tokens
  } else if (t == "Replace" && spec.flavour == BpeFlavour::spm && n.value("content", json()) == "\xE2\x96\x81" &&
             n.contains("pattern") && n["pattern"].is_object() && n["pattern"].value("String", json()) == " ") {
    // Always done for the spm flavour.
  } else {
    c.unsupported(field, "normalizer " + n.dump().substr(0, 80));
  }
}

void read_pre_tokenizer(const json& p, BpeSpec& spec, const Ctx& c, const std::string& field) {
  if (p.is_null()) return;
  const std::string t = type_of(p);
  if (t == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array())
      c.fail(field + ".pretokenizers", "an array", p.dump().substr(0, 60));
    for (const auto& e : p["pretokenizers"]) read_pre_tokenizer(e, spec, c, field);
  } else if (t == "ByteLevel") {
    if (p.value("add_prefix_space", false) == true) spec.add_prefix_space = true;
    if (p.value("use_regex", true) == true) spec.split_regexes.push_back(kGpt2Regex);
  } else if (t == "Split" && spec.flavour == BpeFlavour::byte_level) {
    if (p.value("behavior", json("Isolated")) != "Isolated" || p.value("invert", false) != false)
      c.unsupported(field + ".behavior", "Split behaviour (only Isolated, not inverted)");
    const json pat = p.value("pattern", json());
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string())
      spec.split_regexes.push_back(pat["Regex"].get<std::string>());
    else if (pat.is_object() && pat.contains("String") && pat["String"].is_string())
      spec.split_regexes.push_back(regex_quote(pat["String"].get<std::string>()));
    else
      c.fail(field + ".pattern", "{\"Regex\": ...} or {\"String\": ...}", pat.dump().substr(0, 60));
  } else if (t == "Metaspace" && spec.flavour == BpeFlavour::spm) {
    if (p.value("replacement", json("\xE2\x96\x81")) != "\xE2\x96\x81")
      c.unsupported(field + ".replacement", "Metaspace replacement");
    std::string scheme = "always";
    if (p.contains("prepend_scheme") && p["prepend_scheme"].is_string()) scheme = p["prepend_scheme"].get<std::string>();
    else if (p.contains("add_prefix_space") && p["add_prefix_space"] == false) scheme = "never";
    if (scheme != "always" && scheme != "first" && scheme != "never")
      c.fail(field + ".prepend_scheme", "always, first or never", scheme);
    spec.add_space_prefix = scheme != "never";
    spec.prefix_all_segments = scheme == "always";
    // split=true cuts words at "▁"; SentencePiece pieces never hold "▁" inside, so merging
    // across the cut cannot happen either way.
  } else {
    c.unsupported(field, "pre_tokenizer " + p.dump().substr(0, 80));
  }
}

void read_post_processor(const json& p, BpeSpec& spec, const std::unordered_map<std::string, int32_t>& by_content) {
  if (!p.is_object()) return;
  const std::string t = type_of(p);
  if (t == "Sequence" && p.contains("processors") && p["processors"].is_array()) {
    for (const auto& e : p["processors"]) read_post_processor(e, spec, by_content);
  } else if (t == "TemplateProcessing" && p.contains("single") && p["single"].is_array() && !p["single"].empty()) {
    const json& first = p["single"][0];
    if (first.is_object() && first.contains("SpecialToken") && first["SpecialToken"].is_object()) {
      const json id = first["SpecialToken"].value("id", json());
      if (id.is_string()) {
        const auto it = by_content.find(id.get<std::string>());
        if (it != by_content.end()) {
          spec.bos_id = it->second;
          spec.add_bos = true;
        }
      }
    }
  }
}

}  // namespace

namespace {

BpeSpec spec_from_json(const json& j, const std::string& src) {
  const Ctx c{src};
  if (!j.is_object()) c.fail("", "a JSON object", j.type_name());
  const json model = j.value("model", json());
  if (!model.is_object()) c.fail("model", "an object", model.type_name());
  if (model.contains("type") && type_of(model) != "BPE")
    c.unsupported("model.type", "model type '" + model.value("type", json("?")).dump() + "' (only BPE)");
  if (!model.contains("vocab") || !model["vocab"].is_object()) c.fail("model.vocab", "an object", "none");

  BpeSpec spec;
  spec.source = src;
  spec.pair_mode = PairMode::merges;
  const bool byte_level = contains_type(j.value("pre_tokenizer", json()), "ByteLevel") ||
                          contains_type(j.value("decoder", json()), "ByteLevel");
  spec.flavour = byte_level ? BpeFlavour::byte_level : BpeFlavour::spm;
  spec.add_space_prefix = false;  // spm: set by Prepend / Metaspace
  spec.byte_fallback = model.value("byte_fallback", json(false)) == true;
  spec.ignore_merges = model.value("ignore_merges", json(false)) == true;

  // Vocabulary (ids may be sparse: holes become empty pieces that are never produced).
  const json& vocab = model["vocab"];
  const json added = j.value("added_tokens", json::array());
  if (!added.is_array()) c.fail("added_tokens", "an array", added.type_name());
  int64_t max_id = -1;
  auto check_id = [&](const json& v, const std::string& field) -> int32_t {
    if (!v.is_number_integer()) c.fail(field, "an integer id", v.dump().substr(0, 40));
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= (int64_t{1} << 24)) c.fail(field, "an id in [0, 2^24)", std::to_string(id));
    max_id = std::max(max_id, id);
    return static_cast<int32_t>(id);
  };
  std::vector<std::pair<std::string, int32_t>> entries;
  entries.reserve(vocab.size());
  for (const auto& [k, v] : vocab.items()) entries.emplace_back(k, check_id(v, "model.vocab." + k));
  for (size_t i = 0; i < added.size(); ++i) {
    if (!added[i].is_object()) c.fail("added_tokens[" + std::to_string(i) + "]", "an object", added[i].type_name());
    check_id(added[i].value("id", json()), "added_tokens[" + std::to_string(i) + "].id");
  }
  if (max_id < 0) c.fail("model.vocab", "at least one token", "none");
  // Real vocabularies are dense; a bound keeps a hostile file from allocating 2^24 pieces.
  if (static_cast<size_t>(max_id) >= entries.size() + added.size() + 1024)
    c.fail("model.vocab", "ids below " + std::to_string(entries.size() + added.size() + 1024), std::to_string(max_id));
  const size_t n = static_cast<size_t>(max_id) + 1;
  spec.pieces.assign(n, "");
  spec.types.assign(n, TokenType::normal);
  std::vector<bool> seen(n, false);
  std::string raw;
  for (const auto& [k, id] : entries) {
    if (seen[id]) c.fail("model.vocab." + k, "a unique id", "duplicate id " + std::to_string(id));
    seen[id] = true;
    if (byte_level) {
      // Pieces are spelled in GPT-2's byte alphabet; anything else is kept literally.
      spec.pieces[id] = unicode_to_bytes(k, raw) ? raw : k;
    } else {
      spec.pieces[id] = k;
      if (spec.byte_fallback && parse_byte_piece(k) >= 0) spec.types[id] = TokenType::byte;
    }
  }
  std::unordered_map<std::string, int32_t> by_content;
  for (size_t i = 0; i < added.size(); ++i) {
    const json& a = added[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    const int32_t id = static_cast<int32_t>(a["id"].get<int64_t>());
    if (!a.contains("content") || !a["content"].is_string() || a["content"].get<std::string>().empty())
      c.fail(field + ".content", "a non-empty string", a.value("content", json()).dump().substr(0, 40));
    spec.pieces[id] = a["content"].get<std::string>();
    spec.types[id] = a.value("special", json(false)) == true ? TokenType::control : TokenType::user_defined;
    spec.special_ids.push_back(id);
    by_content[spec.pieces[id]] = id;
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string u = model["unk_token"].get<std::string>();
    for (size_t i = 0; i < n && spec.unk_id < 0; ++i)
      if (spec.pieces[i] == u) spec.unk_id = static_cast<int32_t>(i);
    if (spec.unk_id >= 0 && spec.types[spec.unk_id] == TokenType::normal) spec.types[spec.unk_id] = TokenType::unknown;
  }

  // Merges: "a b" strings or ["a", "b"] pairs, both spelled like the vocabulary keys.
  std::unordered_map<std::string, int32_t> key_to_id;
  key_to_id.reserve(entries.size());
  for (const auto& [k, id] : entries) key_to_id.emplace(k, id);
  const json merges = model.value("merges", json::array());
  if (!merges.is_array()) c.fail("model.merges", "an array", merges.type_name());
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) c.fail("model.merges[" + std::to_string(i) + "]", "'a b'", "'" + s + "'");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      c.fail("model.merges[" + std::to_string(i) + "]", "'a b' or [a, b]", m.dump().substr(0, 40));
    }
    const auto ia = key_to_id.find(a), ib = key_to_id.find(b);
    if (ia == key_to_id.end() || ib == key_to_id.end())
      c.fail("model.merges[" + std::to_string(i) + "]", "pieces in model.vocab", "'" + a + "' + '" + b + "'");
    spec.merges.emplace_back(ia->second, ib->second);
  }

  read_normalizer(j.value("normalizer", json()), spec, c, "normalizer");
  read_pre_tokenizer(j.value("pre_tokenizer", json()), spec, c, "pre_tokenizer");
  read_post_processor(j.value("post_processor", json()), spec, by_content);
  return spec;
}

}  // namespace

std::unique_ptr<Tokenizer> make_from_tokenizer_json(std::string_view text, const std::string& src) {
  BpeSpec spec;
  try {
    spec = spec_from_json(json::parse(text), src);
  } catch (const json::exception& e) {
    // Wrong JSON types deep inside (e.g. "use_regex": "yes") end up here.
    throw Error(ErrorCode::format, src, "", std::string("expected a valid tokenizer.json, found: ") + e.what());
  }
  return make_bpe(std::move(spec));
}

}  // namespace awqx::tok

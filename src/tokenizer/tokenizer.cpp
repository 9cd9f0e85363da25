// Tokenizer::load: picks the implementation for a model folder and applies BOS/EOS settings
// from tokenizer_config.json / generation_config.json / config.json.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx {
namespace fs = std::filesystem;
using nlohmann::json;

namespace tok {

std::string read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::io, path, "", "cannot open file for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(ErrorCode::io, path, "", "read failed");
  return ss.str();
}

bool looks_like_tiktoken(std::string_view data) {
  // First line: base64 chars, one space, digits.
  const size_t nl = data.find('\n');
  const std::string_view line = data.substr(0, nl == std::string_view::npos ? data.size() : nl);
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size()) return false;
  for (size_t i = 0; i < sp; ++i) {
    const char c = line[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return false;
  }
  for (size_t i = sp + 1; i < line.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(line[i])) && line[i] != '\r') return false;
  return true;
}

}  // namespace tok

bool Tokenizer::is_eos(int32_t id) const {
  return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
}

namespace {

json parse_json_or_null(const std::string* text_or_null, const std::string& path) {
  if (!text_or_null) return json();
  const std::string& text = *text_or_null;
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::format, path, "", std::string("expected valid JSON, found: ") + e.what());
  }
}

json read_json_or_null(const std::string& path) {
  if (!fs::exists(path)) return json();
  const std::string text = tok::read_whole_file(path);
  return parse_json_or_null(&text, path);
}

// "bos_token": "<s>" or {"content": "<s>", ...}.
std::string token_string(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return "";
}

// Integer or list of integers (generation_config eos_token_id may be a list).
std::vector<int32_t> id_list(const json& j, const std::string& file, const std::string& field, int32_t n) {
  std::vector<int32_t> out;
  auto one = [&](const json& v) {
    if (!v.is_number_integer())
      throw Error::mismatch(ErrorCode::format, file, field, "an integer token id", v.dump());
    const auto x = v.get<int64_t>();
    if (x < 0 || x >= n)
      throw Error::mismatch(ErrorCode::format, file, field, "a token id in [0, " + std::to_string(n) + ")",
                            std::to_string(x));
    out.push_back(static_cast<int32_t>(x));
  };
  if (j.is_array()) {
    for (const auto& v : j) one(v);
  } else if (!j.is_null()) {
    one(j);
  }
  return out;
}

}  // namespace

void tok::apply_config_texts(Tokenizer& t, const std::string* tc_text, const std::string* gc_text,
                             const std::string* c_text, const std::string& dir) {
  const int32_t n = t.vocab_size();
  const std::string tc_path = (fs::path(dir) / "tokenizer_config.json").string();
  const std::string gc_path = (fs::path(dir) / "generation_config.json").string();
  const std::string c_path = (fs::path(dir) / "config.json").string();
  const json tc = parse_json_or_null(tc_text, tc_path);
  const json gc = parse_json_or_null(gc_text, gc_path);
  const json cc = parse_json_or_null(c_text, c_path);

  // BOS: generation_config > config > tokenizer_config string.
  bool bos_set = false;
  for (const auto& [j, p] : {std::pair{&gc, &gc_path}, std::pair{&cc, &c_path}}) {
    if (bos_set || !j->is_object() || !j->contains("bos_token_id")) continue;
    const auto ids = id_list((*j)["bos_token_id"], *p, "bos_token_id", n);
    if (!ids.empty()) {
      t.set_bos(ids[0]);
      bos_set = true;
    }
  }
  if (!bos_set && tc.is_object() && tc.contains("bos_token")) {
    const std::string s = token_string(tc["bos_token"]);
    if (!s.empty()) {
      const int32_t id = t.piece_to_id(s);
      if (id >= 0) t.set_bos(id);
    } else if (tc["bos_token"].is_null()) {
      t.set_bos(-1);
    }
  }
  // EOS: generation_config (may list several, e.g. Llama-3 instruct) > config > tokenizer_config.
  bool eos_set = false;
  for (const auto& [j, p] : {std::pair{&gc, &gc_path}, std::pair{&cc, &c_path}}) {
    if (eos_set || !j->is_object() || !j->contains("eos_token_id")) continue;
    auto ids = id_list((*j)["eos_token_id"], *p, "eos_token_id", n);
    if (!ids.empty()) {
      t.set_eos(std::move(ids));
      eos_set = true;
    }
  }
  if (!eos_set && tc.is_object() && tc.contains("eos_token")) {
    const int32_t id = t.piece_to_id(token_string(tc["eos_token"]));
    if (id >= 0) t.set_eos({id});
  }
  if (tc.is_object() && tc.contains("add_bos_token") && tc["add_bos_token"].is_boolean())
    t.set_add_bos(tc["add_bos_token"].get<bool>());
  if (t.bos_id() < 0) t.set_add_bos(false);
}

namespace {

void apply_folder_configs(Tokenizer& t, const std::string& dir) {
  std::string texts[3];
  const std::string* ptr[3] = {nullptr, nullptr, nullptr};
  const char* names[3] = {"tokenizer_config.json", "generation_config.json", "config.json"};
  for (int i = 0; i < 3; ++i) {
    const std::string p = (fs::path(dir) / names[i]).string();
    if (!fs::exists(p)) continue;
    texts[i] = tok::read_whole_file(p);
    ptr[i] = &texts[i];
  }
  tok::apply_config_texts(t, ptr[0], ptr[1], ptr[2], dir);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load_file(const std::string& path, const std::string& tiktoken_family) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return tok::make_from_gguf(path);
  const std::string data = tok::read_whole_file(path);
  if (data.compare(0, 4, "GGUF") == 0) return tok::make_from_gguf(path);
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".bin") == 0) return tok::make_from_llama2c(data, path);
  const size_t first = data.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && data[first] == '{') return tok::make_from_tokenizer_json(data, path);
  if (tok::looks_like_tiktoken(data)) return tok::make_tiktoken(data, tiktoken_family, path);
  return tok::make_sentencepiece(data, path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_json_string(std::string_view json_text, const std::string& name) {
  return tok::make_from_tokenizer_json(json_text, name);
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& model_dir) {
  const fs::path dir(model_dir);
  if (!fs::is_directory(dir)) throw Error(ErrorCode::io, model_dir, "", "expected a model folder, found none");
  std::unique_ptr<Tokenizer> t;
  if (fs::exists(dir / "tokenizer.json")) {
    t = load_file((dir / "tokenizer.json").string());
  } else if (fs::exists(dir / "tokenizer.model")) {
    // A tiktoken rank file's specials depend on the family: take it from config.json.
    std::string family;
    const json cc = read_json_or_null((dir / "config.json").string());
    if (cc.is_object() && cc.value("model_type", json()).is_string())
      family = cc["model_type"].get<std::string>().rfind("qwen", 0) == 0 ? "qwen2" : "";
    t = load_file((dir / "tokenizer.model").string(), family);
  } else if (fs::exists(dir / "tokenizer.bin")) {
    t = load_file((dir / "tokenizer.bin").string());
  } else {
    throw Error(ErrorCode::io, model_dir, "tokenizer",
                "expected tokenizer.json, tokenizer.model or tokenizer.bin, found none");
  }
  apply_folder_configs(*t, model_dir);
  return t;
}

}  // namespace awqx

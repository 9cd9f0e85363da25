// Built-in chat templates (the three families awqx runs), written out by hand instead of a
// jinja interpreter: they are the HF templates of Llama-2-chat, Llama-3-instruct and ChatML
// (Qwen2) without the leading BOS, which encode(text, add_bos=true) supplies as a real id.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx {
namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

void check_role(const std::string& role) {
  if (role != "system" && role != "user" && role != "assistant")
    throw Error::mismatch(ErrorCode::invalid_argument, "", "role", "system, user or assistant", "'" + role + "'");
}

// Llama-2-chat: "[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] ...".
std::string llama2(const std::vector<std::pair<std::string, std::string>>& msgs) {
  std::string out, system;
  bool first_user = true, need_bos = false;
  for (const auto& [role, content] : msgs) {
    if (role == "system") {
      system = trim(content);
    } else if (role == "user") {
      if (need_bos) out += "<s>";
      std::string text = trim(content);
      if (first_user && !system.empty()) text = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + text;
      out += "[INST] " + text + " [/INST]";
      first_user = false;
    } else {
      out += " " + trim(content) + " </s>";
      need_bos = true;
    }
  }
  return out;
}

std::string llama3(const std::vector<std::pair<std::string, std::string>>& msgs, bool gen) {
  std::string out;
  for (const auto& [role, content] : msgs)
    out += "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + trim(content) + "<|eot_id|>";
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string chatml(const std::vector<std::pair<std::string, std::string>>& msgs, bool gen) {
  std::string out;
  for (const auto& [role, content] : msgs) out += "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace

std::string apply_chat_template(const std::string& family,
                                const std::vector<std::pair<std::string, std::string>>& messages,
                                bool add_generation_prompt) {
  for (const auto& m : messages) check_role(m.first);
  if (family == "llama-2") return llama2(messages);  // the prompt always ends ready for the answer
  if (family == "llama-3") return llama3(messages, add_generation_prompt);
  if (family == "chatml") return chatml(messages, add_generation_prompt);
  throw Error::mismatch(ErrorCode::invalid_argument, "", "chat family", "llama-2, llama-3 or chatml",
                        "'" + family + "'");
}

std::string detect_chat_family(const std::string& model_dir) {
  const fs::path dir(model_dir);
  auto family_of_text = [](const std::string& s) -> std::string {
    if (s.find("<|start_header_id|>") != std::string::npos || s.find("<|eot_id|>") != std::string::npos)
      return "llama-3";
    if (s.find("<|im_start|>") != std::string::npos) return "chatml";
    if (s.find("[INST]") != std::string::npos) return "llama-2";
    return "";
  };
  // 1. The chat template the model ships.
  if (fs::exists(dir / "tokenizer_config.json")) {
    try {
      const auto j = nlohmann::json::parse(tok::read_whole_file((dir / "tokenizer_config.json").string()));
      if (j.is_object() && j.contains("chat_template")) {
        const auto& ct = j["chat_template"];
        std::string text = ct.is_string() ? ct.get<std::string>() : ct.dump();
        if (auto f = family_of_text(text); !f.empty()) return f;
      }
    } catch (const nlohmann::json::exception&) {
      // A broken config only loses the hint; load() reports it properly.
    }
  }
  // 2. The vocabulary's special tokens.
  if (fs::exists(dir / "tokenizer.json")) {
    const std::string s = tok::read_whole_file((dir / "tokenizer.json").string());
    if (s.find("\"<|eot_id|>\"") != std::string::npos) return "llama-3";
    if (s.find("\"<|im_start|>\"") != std::string::npos) return "chatml";
  }
  // 3. Architecture.
  if (fs::exists(dir / "config.json")) {
    try {
      const auto j = nlohmann::json::parse(tok::read_whole_file((dir / "config.json").string()));
      const std::string mt = j.is_object() && j.value("model_type", nlohmann::json()).is_string()
                                 ? j["model_type"].get<std::string>()
                                 : "";
      if (mt.rfind("qwen", 0) == 0) return "chatml";
      if (mt == "llama" && j.value("vocab_size", 0) >= 128000) return "llama-3";
    } catch (const nlohmann::json::exception&) {
    }
  }
  return "llama-2";
}

}  // namespace awqx

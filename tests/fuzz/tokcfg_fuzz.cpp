// libFuzzer target: the folder configs Tokenizer::load applies on top of a tokenizer
// (tokenizer_config.json bos/eos/add_bos_token, generation_config.json and config.json
// bos_token_id / eos_token_id). Input: the three texts separated by NUL bytes (fewer parts =
// those files absent), then a fourth part encoded with the result. awqx::Error is the only
// allowed failure; whatever applies must leave BOS/EOS ids inside the vocabulary.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace {
// A tiny SPM-style tokenizer.json with <unk>, <s>, </s> (ids 0..2) and byte fallback.
const char* kTokenizer = R"({"added_tokens": [{"id": 0, "content": "<unk>", "special": true},
 {"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}],
 "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
 "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true,
  "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "\u2581": 4, "a": 5, "\u2581a": 6},
  "merges": ["\u2581 a"]}})";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  size_t pos = 0;
  while (parts.size() < 4) {
    const size_t nul = all.find('\0', pos);
    parts.emplace_back(all.substr(pos, nul == std::string_view::npos ? std::string_view::npos : nul - pos));
    if (nul == std::string_view::npos) break;
    pos = nul + 1;
  }
  const std::string* p[3] = {nullptr, nullptr, nullptr};
  for (size_t i = 0; i < 3 && i < parts.size(); ++i) p[i] = &parts[i];
  const std::string text = parts.size() == 4 ? parts[3] : "a aA";
  auto tok = awqx::Tokenizer::from_json_string(kTokenizer, "tokenizer.json");
  try {
    awqx::tok::apply_config_texts(*tok, p[0], p[1], p[2], "fuzzdir");
    const int32_t n = tok->vocab_size();
    if (tok->bos_id() < -1 || tok->bos_id() >= n) __builtin_trap();
    if (tok->add_bos() && tok->bos_id() < 0) __builtin_trap();
    for (int32_t id : tok->eos_ids())
      if (id < 0 || id >= n) __builtin_trap();
    for (int32_t id : tok->encode(text, true))
      if (id < 0 || id >= n) __builtin_trap();
  } catch (const awqx::Error&) {
  }
  return 0;
}

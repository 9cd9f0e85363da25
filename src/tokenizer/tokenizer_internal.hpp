// Private pieces shared by the tokenizer implementations (not a public header).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "awqx/tokenizer.hpp"

namespace awqx::tok {

// Length of the UTF-8 sequence starting at s[i] if it is complete and valid, else 0.
size_t utf8_valid_len(std::string_view s, size_t i);
// Appends code point cp as UTF-8.
void append_utf8(std::string& out, uint32_t cp);
// True if the whole string is valid UTF-8.
bool is_valid_utf8(std::string_view s);
// Replaces invalid UTF-8 sequences with U+FFFD.
std::string sanitize_utf8(std::string_view s);

// Whole file; Error{io} naming the path.
std::string read_whole_file(const std::string& path);
// BOS/EOS/add_bos from the folder's config texts (tokenizer_config.json, generation_config.json,
// config.json; nullptr = file absent), as Tokenizer::load applies them. `dir` only names files
// in errors. Error{format} naming file + field. Exposed for the tokenizer-config fuzz target.
void apply_config_texts(Tokenizer& t, const std::string* tokenizer_config, const std::string* generation_config,
                        const std::string* config, const std::string& dir);

// "<0xAB>" -> 0xAB, else -1.
int parse_byte_piece(std::string_view piece);

// SentencePiece model through libsentencepiece. `path` for error messages.
std::unique_ptr<Tokenizer> make_sentencepiece(const std::string& serialized, const std::string& path);
// tiktoken rank file; family "llama3" / "qwen2" / "" (guess from the token count).
std::unique_ptr<Tokenizer> make_tiktoken(std::string_view data, std::string family, const std::string& path);
// HF tokenizer.json text; `src` names the file in errors.
std::unique_ptr<Tokenizer> make_from_tokenizer_json(std::string_view text, const std::string& src);
// GGUF file's tokenizer.ggml.* vocabulary.
std::unique_ptr<Tokenizer> make_from_gguf(const std::string& path);
// llama2.c tokenizer.bin contents.
std::unique_ptr<Tokenizer> make_from_llama2c(std::string_view data, const std::string& path);
// True if the bytes look like a tiktoken rank file (base64 + space + integer lines).
bool looks_like_tiktoken(std::string_view data);

}  // namespace awqx::tok

// Tokenizers: SentencePiece (libsentencepiece), HF tokenizer.json BPE (byte-level and Llama-2
// style with byte fallback), tiktoken rank files, GGUF vocabularies and llama2.c tokenizer.bin.
// All of them sit behind one interface; Tokenizer::load picks the right one for a model folder.
//
// Thread-safety: a loaded Tokenizer is immutable; encode/decode may run from several threads.
// Non-UTF-8 input to encode never throws or crashes: byte-level BPE and the SPM-style BPE
// engine (tokenizer.json, GGUF, llama2.c) encode the raw bytes (byte-level exactly; SPM via
// <0xXX> byte-fallback pieces, else unk); libsentencepiece models first replace invalid
// sequences by U+FFFD.
// Special tokens: control/added tokens written literally in the text ("<|eot_id|>", "</s>")
// encode to their ids, as HF does by default; decode writes them back as text, except BOS,
// which decodes to "" (so decode(encode(x, true)) == x).
// Whitespace: SentencePiece models keep every space (remove_extra_whitespaces is turned off,
// as in HF's LlamaTokenizerFast), so round trips are exact.
// Not implemented: NFC normalization requested by a tokenizer.json (Qwen2) is not applied:
// input is assumed to be NFC already (true for all test vectors); HF added-token options
// lstrip/rstrip/single_word are ignored.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace awqx {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads from a model folder: tokenizer.json if present (HF fast tokenizer), else
  // tokenizer.model (SentencePiece, or a tiktoken rank file), else tokenizer.bin (llama2.c).
  // BOS/EOS and add_bos come from tokenizer_config.json / generation_config.json / config.json.
  // Throws Error{io} when no tokenizer file exists, Error{format} naming file and field on bad
  // contents.
  static std::unique_ptr<Tokenizer> load(const std::string& model_dir);
  // Loads one tokenizer file by its content type (no folder configs read; BOS/EOS from the file
  // where it has them). Accepts tokenizer.json, SentencePiece .model, tiktoken rank files (then
  // `tiktoken_family` picks the regex and specials: "llama3" or "qwen2"), llama2.c .bin, .gguf.
  static std::unique_ptr<Tokenizer> load_file(const std::string& path,
                                              const std::string& tiktoken_family = "");
  // Parses tokenizer.json text (no file access); `name` is used in error messages.
  static std::unique_ptr<Tokenizer> from_json_string(std::string_view json,
                                                     const std::string& name = "tokenizer.json");

  // Text -> ids. A BOS is prepended when add_bos is true and the model adds BOS (add_bos()).
  // Special/added tokens written literally in the text are recognised as single ids.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
  // Ids -> text; BOS decodes to nothing, other special tokens to their text; out-of-range ids
  // are skipped.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // Bytes of one token for streaming; byte pieces may be partial UTF-8 (use StreamDecoder).
  // BOS gives "". at_text_start: this is the first text of the output, so the
  // SentencePiece dummy-prefix space is dropped, as decode() does at the start.
  virtual std::string decode_token(int32_t id, bool at_text_start = false) const = 0;
  virtual int32_t vocab_size() const = 0;
  // Piece text as stored in the vocabulary (for inspection / export); "" if out of range.
  virtual std::string id_to_piece(int32_t id) const = 0;
  // Vocabulary lookup of a piece as stored (e.g. "<|eot_id|>", "</s>"); -1 if absent.
  virtual int32_t piece_to_id(std::string_view piece) const = 0;
  // Short name of the implementation: "sentencepiece", "bpe-byte", "bpe-spm", "spm-scores".
  virtual std::string kind() const = 0;

  int32_t bos_id() const { return bos_id_; }                    // -1 if none
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }  // may be empty
  bool add_bos() const { return add_bos_; }
  bool is_eos(int32_t id) const;

  // Overrides (used by load() after reading the folder's configs).
  void set_bos(int32_t id) { bos_id_ = id; }
  void set_eos(std::vector<int32_t> ids) { eos_ids_ = std::move(ids); }
  void set_add_bos(bool v) { add_bos_ = v; }

 protected:
  int32_t bos_id_ = -1;
  std::vector<int32_t> eos_ids_;
  bool add_bos_ = false;
};

// Streams text for generate: accumulates token bytes and emits only complete UTF-8 sequences.
// Invalid sequences are emitted as U+FFFD so output never stalls. Not thread-safe.
// at_text_start: true when the streamed tokens begin the text (nothing printed before them);
// false (default) when they continue a printed prompt, so a leading space is kept.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool at_text_start = false)
      : tok_(tok), at_start_(at_text_start) {}
  // Adds one token; returns the text that became complete (possibly empty).
  std::string push(int32_t id);
  // Returns whatever is left (incomplete bytes as U+FFFD) and resets.
  std::string flush();

 private:
  const Tokenizer& tok_;
  std::string pending_;
  bool at_start_;
};

// Writes `tok`'s vocabulary as an HF tokenizer.json into out_dir (atomic) plus a
// tokenizer_config.json (bos/eos, add_bos_token), so Tokenizer::load(out_dir) reproduces the
// same ids. Supported kinds: "bpe-byte", "bpe-spm", "spm-scores" (scores become derived merges:
// every split of a piece into two in-vocab pieces, ranked by the merged piece's score).
// Throws Error{unsupported_model} for "sentencepiece" (copy tokenizer.model instead), Error{io}.
void write_tokenizer_json(const Tokenizer& tok, const std::string& out_dir);
// Reads a GGUF file's tokenizer.ggml.* metadata and writes tokenizer.json (as above).
void write_tokenizer_json_from_gguf(const std::string& gguf_path, const std::string& out_dir);
// Reads a llama2.c tokenizer.bin and writes tokenizer.json (as above). BOS 1, EOS 2.
void write_tokenizer_json_from_llama2c(const std::string& bin_path, const std::string& out_dir);

// Chat templates (built in, no jinja): "llama-2", "llama-3", "chatml". Roles: system, user,
// assistant. The text never starts with BOS (encode it with add_bos=true); later llama-2 turns
// contain "</s><s>" literally, which encode() maps to the control ids.
// Throws Error{invalid_argument} for an unknown family.
std::string apply_chat_template(const std::string& family,
                                const std::vector<std::pair<std::string, std::string>>& messages,
                                bool add_generation_prompt);
// Picks the family from tokenizer_config.json chat_template content, else the vocabulary
// (<|eot_id|> → llama-3, <|im_start|> → chatml), else config.json architecture / model_type;
// default "llama-2".
std::string detect_chat_family(const std::string& model_dir);

}  // namespace awqx

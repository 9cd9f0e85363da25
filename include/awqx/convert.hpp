// Importers that turn other checkpoint formats into a normal Hugging Face Llama folder
// (config.json, model.safetensors, tokenizer files), so every awqx verb works on them.
#pragma once
#include <cstdint>
#include <string>

namespace awqx {

// llama2.c checkpoint header (7 int32). vocab_size < 0 in the file means an unshared classifier.
struct Llama2cHeader {
  int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
  int64_t expected_file_bytes() const;  // header + tensors (incl. freq_cis tables, wcls if unshared)
};

// Reads and validates the header against the file size. Throws Error{io} (unreadable) or
// Error{format} naming the file and the offending header field.
Llama2cHeader read_llama2c_header(const std::string& bin_path);

// Converts a llama2.c .bin (legacy fp32 layout) + tokenizer (llama2.c tokenizer.bin, or a
// SentencePiece tokenizer.model) into the HF folder out_dir: config.json, generation_config.json,
// model.safetensors (F32), tokenizer.json + tokenizer_config.json (or tokenizer.model).
// q/k rows are permuted from llama2.c's interleaved RoPE pairs (2j, 2j+1) to HF's rotate-half
// halves (j, j + head_dim/2). Atomic: built in "<out_dir>.tmp", renamed when complete.
// Throws Error{io} if out_dir exists or on write failure, Error{format} on a bad input file.
void convert_llama2c(const std::string& bin_path, const std::string& tokenizer_path, const std::string& out_dir);

}  // namespace awqx

// Hugging Face config.json for the Llama family (Llama-2/3, Mistral, Qwen2) and AutoAWQ's
// quantization_config. Unknown architectures are an Error{unsupported_model}.
#pragma once
#include <string>
#include <vector>

namespace awqx {

struct QuantConfig {
  bool present = false;             // config.json had a quantization_config
  std::string quant_method = "awq";
  int bits = 4;                     // w_bit
  int group_size = 128;             // q_group_size; -1 = per output channel (whole K)
  bool zero_point = true;
  std::string version = "gemm";     // "gemm" | "gemv"
  std::vector<std::string> modules_to_not_convert;  // name substrings / globs
  // JSON conversions (AutoAWQ / transformers AwqConfig keys) live in the library's private
  // src/io/config_json.hpp, so this header needs no JSON library.
};

struct RopeScaling {
  std::string type;                 // "" (none), "llama3", "linear"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;         // "LlamaForCausalLM" | "MistralForCausalLM" | "Qwen2ForCausalLM"
  std::string model_type;           // "llama" | "mistral" | "qwen2"
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;                 // hidden_size / num_attention_heads unless given
  int vocab_size = 0;
  int max_position_embeddings = 2048;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;      // q/k/v biases (Qwen2: always true)
  int sliding_window = 0;           // 0 = none (informational)
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;
  std::string torch_dtype = "float32";
  QuantConfig quant;                // quant.present == false for FP models
  std::string raw_text;             // the whole file as read, preserved when re-saving

  static ModelConfig load(const std::string& model_dir);  // reads model_dir/config.json
  static ModelConfig parse(const std::string& json_text, const std::string& file);
  // Validates the numbers (positive, divisible heads...). Error{format} naming the field.
  void validate(const std::string& file) const;
  // The HF config.json text of these fields (+ quantization_config when quant.present), for the
  // folders awqx writes itself (convert, make-model); `raw_text` is not consulted.
  std::string to_json_text() const;
};

}  // namespace awqx

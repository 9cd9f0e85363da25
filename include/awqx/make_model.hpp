// Synthetic Hugging Face model folders of real Llama-family shapes (random weights, for speed
// measurements only): config.json with the real dimensions / GQA / RoPE / vocabulary, weights
// as bf16 (or an AutoAWQ GEMM int4 checkpoint with quantization_config), and a small byte-level
// tokenizer.json (258 tokens: 256 bytes + BOS + EOS) so generate/bench run. Ids beyond the
// tokenizer's 258 are valid model ids; decode skips them.
// Weights are generated and written one decoder layer per shard, so peak memory is one layer
// (plus the embedding), not the model: a 7B bf16 folder (~13.5 GB) fits a small machine.
// Every CLI flag of `awqx make-model` is a field of MakeModelOptions.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace awqx {

struct MakeModelOptions {
  std::string shape = "tiny";  // one of model_shapes()
  bool quantized = false;      // AutoAWQ GEMM int4 (q/k/v/o/gate/up/down), fp16 embed/norms/lm_head
  int group_size = 128;        // int4 group size; -1 = whole in_features; must divide every K
  uint64_t seed = 0;           // same seed + options = byte-identical weights
  int layers = 0;              // > 0 overrides num_hidden_layers (quick tests)
  bool overwrite = false;      // replace an existing out_dir
};

struct MakeModelProgress {
  int step = 0, n_steps = 0;   // shards written / total
  uint64_t bytes_written = 0;  // tensor bytes so far
  double elapsed_s = 0;
};
using MakeModelProgressFn = std::function<void(const MakeModelProgress&)>;

// Shape names accepted by make_model: "llama2-7b", "llama3-8b", "qwen2-1.5b", "tiny".
std::vector<std::string> model_shapes();
// The HF config.json (without quantization_config) of a shape, layers overridden when > 0.
// Error{invalid_argument} naming --shape / --layers.
nlohmann::json shape_config(const std::string& shape, int layers = 0);

// Writes the folder (built in "<out_dir>.tmp", renamed when complete). Throws
// Error{invalid_argument} (unknown shape, group size not dividing K, out_dir exists without
// overwrite), Error{io} (unwritable, disk full). Returns the tensor bytes written.
uint64_t make_model(const std::string& out_dir, const MakeModelOptions& opt, const MakeModelProgressFn& progress = {});

}  // namespace awqx

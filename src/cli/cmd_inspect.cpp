// `awqx inspect DIR`: what a model folder holds: architecture and shapes from config.json,
// parameter count, dtypes, quantization config and the tensor list.
#include <cstdio>
#include <map>

#include <fmt/format.h>

#include "awqx/config.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/safetensors.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {

namespace {
bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", b, units[u]);
}

void print_config(const ModelConfig& c) {
  fmt::print("architecture: {} (model_type {})\n", c.architecture, c.model_type);
  fmt::print("  hidden_size {}  intermediate_size {}  layers {}  heads {}  kv_heads {}  head_dim {}\n", c.hidden_size,
             c.intermediate_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.head_dim);
  fmt::print("  vocab_size {}  max_position_embeddings {}  rms_norm_eps {:g}  rope_theta {:g}\n", c.vocab_size,
             c.max_position_embeddings, c.rms_norm_eps, c.rope_theta);
  if (!c.rope_scaling.type.empty())
    fmt::print("  rope_scaling {} factor {:g} low_freq {:g} high_freq {:g} original_max_pos {}\n", c.rope_scaling.type,
               c.rope_scaling.factor, c.rope_scaling.low_freq_factor, c.rope_scaling.high_freq_factor,
               c.rope_scaling.original_max_position_embeddings);
  std::string eos;
  for (int id : c.eos_token_ids) eos += (eos.empty() ? "" : ",") + std::to_string(id);
  fmt::print("  tie_word_embeddings {}  attention_bias {}  sliding_window {}  bos {}  eos [{}]  torch_dtype {}\n",
             c.tie_word_embeddings, c.attention_bias, c.sliding_window, c.bos_token_id, eos, c.torch_dtype);
  if (c.quant.present) {
    std::string skip;
    for (const auto& m : c.quant.modules_to_not_convert) skip += (skip.empty() ? "" : ",") + m;
    fmt::print("quantization: {} bits {} group_size {} zero_point {} version {} modules_to_not_convert [{}]\n",
               c.quant.quant_method, c.quant.bits, c.quant.group_size, c.quant.zero_point, c.quant.version, skip);
  } else {
    fmt::print("quantization: none\n");
  }
}

void run_inspect(const std::string& dir) {
  // Open everything before printing, so a failure is the only output.
  const bool has_config = file_exists(path_join(dir, "config.json"));
  ModelConfig c;
  if (has_config) c = ModelConfig::load(dir);
  const TensorStore store = TensorStore::open_dir(dir);
  const int bits = c.quant.present ? c.quant.bits : 4;
  if (has_config)
    print_config(c);
  else
    fmt::print("config.json: none\n");
  const auto names = store.names();
  struct Count {
    size_t tensors = 0, bytes = 0;
  };
  std::map<std::string, Count> by_dtype;
  uint64_t params = 0;
  size_t total = 0;
  for (const auto& n : names) {
    const TensorView t = store.get(n);
    auto& c = by_dtype[dtype_name(t.dtype)];
    ++c.tensors;
    c.bytes += t.nbytes;
    total += t.nbytes;
    // AWQ: each int32 of qweight packs 32/bits weights; qzeros/scales are quantization overhead.
    const std::string base = n.substr(0, n.rfind('.') + 1);
    if (ends_with(n, ".qweight"))
      params += static_cast<uint64_t>(t.numel()) * static_cast<uint64_t>(32 / bits);
    else if ((ends_with(n, ".qzeros") || ends_with(n, ".scales")) && store.has(base + "qweight"))
      continue;
    else
      params += static_cast<uint64_t>(t.numel());
  }
  fmt::print("parameters: {} ({:.2f} M)\n", params, static_cast<double>(params) / 1e6);
  fmt::print("tensor bytes: {} ({})\n", total, human_bytes(static_cast<double>(total)));
  fmt::print("dtypes:");
  for (const auto& [d, c] : by_dtype) fmt::print("  {} {} tensors {}", d, c.tensors, human_bytes(static_cast<double>(c.bytes)));
  fmt::print("\ntensors ({}):\n", names.size());
  size_t w = 0;
  for (const auto& n : names) w = std::max(w, n.size());
  for (const auto& n : names) {
    const TensorView t = store.get(n);
    fmt::print("  {:<{}}  {:<4}  {}\n", n, w, dtype_name(t.dtype), shape_str(t.shape));
  }
}
}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "show a model folder: config, parameter count, dtypes, tensors");
  static std::string dir;  // CLI11 keeps a reference: must outlive parsing
  cmd->add_option("dir", dir, "model folder (config.json + *.safetensors)")->required();
  cmd->callback([] { run_inspect(dir); });
}

}  // namespace awqx::cli

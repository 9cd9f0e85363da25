// Synthetic model folders of real shapes (include/awqx/make_model.hpp).
// Random numbers: a counter-based generator (splitmix64 of seed, tensor, row) so every row can be
// filled by any thread and the bytes do not depend on the thread count. Normal-ish values come
// from the Irwin–Hall sum of four 16-bit uniforms (mean 0, variance 1 after scaling): ~1 ns per
// value, which matters for the 6.7 billion values of a 7B model.
#include "awqx/make_model.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "awqx/awq_format.hpp"
#include "awqx/config.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/half.hpp"
#include "awqx/linear.hpp"
#include "awqx/parallel.hpp"
#include "awqx/safetensors.hpp"
#include "awqx/tokenizer.hpp"
#include "io/config_json.hpp"
#include "tokenizer/bpe.hpp"

namespace awqx {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr float kStd = 0.02f;  // HF initializer_range of Llama / Qwen2

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Row stream: seed × tensor × row -> independent 64-bit words.
struct Rng {
  uint64_t s;
  Rng(uint64_t seed, uint64_t tensor, uint64_t row) : s(splitmix(splitmix(seed ^ splitmix(tensor)) + row)) {}
  uint64_t next() { return s = splitmix(s); }
  float normal() {  // Irwin–Hall(4): sum of 4 uniforms has variance 4/12
    const uint64_t r = next();
    const float sum = float(r & 0xffff) + float((r >> 16) & 0xffff) + float((r >> 32) & 0xffff) + float(r >> 48);
    return (sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
  }
};

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// [rows][cols] random N(0, std) (or `fill` when std == 0) in bf16 / f16.
TensorView random_fp(const std::string& name, DType dt, int64_t rows, int64_t cols, uint64_t seed, float std,
                     float fill = 0.0f) {
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * cols) * 2);
  uint16_t* p = reinterpret_cast<uint16_t*>(bytes.data());
  const uint64_t th = name_hash(name);
  parallel_for(0, rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Rng rng(seed, th, static_cast<uint64_t>(r));
      uint16_t* row = p + r * cols;
      for (int64_t c = 0; c < cols; ++c) {
        const float v = std == 0.0f ? fill : rng.normal() * std;
        row[c] = dt == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
      }
    }
  });
  std::vector<int64_t> shape = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
  return make_tensor(name, dt, std::move(shape), std::move(bytes));
}

// Random int4 weights with the statistics of an AWQ checkpoint (zeros near 8, fp16 scales giving
// weights of std ~0.02), packed by the AutoAWQ GEMM packer.
void random_q4(std::vector<TensorView>& out, const std::string& prefix, int64_t n, int64_t k, int g, bool bias,
               uint64_t seed) {
  Q4Weights w = Q4Weights::empty(n, k, g, true);
  const uint64_t th = name_hash(prefix);
  const int64_t groups = w.groups();
  parallel_for(0, n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Rng rng(seed, th, static_cast<uint64_t>(r));
      uint8_t* q = w.qdata.data() + r * (k / 2);
      for (int64_t c = 0; c < k / 2; c += 8) {
        const uint64_t v = rng.next();
        for (int64_t b = 0; b < 8 && c + b < k / 2; ++b) q[c + b] = static_cast<uint8_t>(v >> (8 * b));
      }
      for (int64_t j = 0; j < groups; ++j) {
        const uint64_t v = rng.next();
        // (q - z) uniform on 0..15 minus ~8 has std ~4.6: scale ~0.02/4.6.
        w.scales[r * groups + j] = round_to_f16(0.0043f * (0.75f + 0.5f * float(v & 0xffff) / 65536.0f));
        w.zeros[r * groups + j] = static_cast<uint8_t>(7 + (v >> 16) % 3);
      }
    }
  });
  if (bias) {
    Rng rng(seed, th, ~0ull);
    w.bias.resize(static_cast<size_t>(n));
    for (auto& b : w.bias) b = rng.normal() * kStd;
  }
  AwqGemmTensors t = awq_pack_gemm(w, prefix);
  out.push_back(std::move(t.qweight));
  out.push_back(std::move(t.qzeros));
  out.push_back(std::move(t.scales));
  if (t.bias) out.push_back(std::move(*t.bias));
}

// 256 byte tokens + <s> + </s>, no merges: every byte is one token. Written through the
// tokenizer.json exporter so the file is exactly what Tokenizer::load reads.
void write_byte_tokenizer(const std::string& dir, int bos, int eos) {
  tok::BpeSpec s;
  s.flavour = tok::BpeFlavour::byte_level;
  for (int b = 0; b < 256; ++b) {
    s.pieces.emplace_back(1, static_cast<char>(b));
    s.types.push_back(tok::TokenType::normal);
  }
  s.pieces.push_back("<s>");
  s.pieces.push_back("</s>");
  s.types.push_back(tok::TokenType::control);
  s.types.push_back(tok::TokenType::control);
  s.scores.assign(s.pieces.size(), 0.0f);
  s.special_ids = {bos, eos};
  s.bos_id = bos;
  s.eos_ids = {eos};
  s.add_bos = true;
  s.source = "synthetic tokenizer";
  write_tokenizer_json(*tok::make_bpe(std::move(s)), dir);
}

struct Shape {
  const char* name;
  const char* arch;
  const char* model_type;
  int hidden, inter, layers, heads, kv_heads, vocab, max_pos;
  double rope_theta, eps;
  bool tie;
};
// Published configs: Llama-2-7b-hf, Meta-Llama-3-8B, Qwen2-1.5B; "tiny" is GQA with K % 128 == 0.
constexpr Shape kShapes[] = {
    {"llama2-7b", "LlamaForCausalLM", "llama", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0, 1e-5, false},
    {"llama3-8b", "LlamaForCausalLM", "llama", 4096, 14336, 32, 32, 8, 128256, 8192, 500000.0, 1e-5, false},
    {"qwen2-1.5b", "Qwen2ForCausalLM", "qwen2", 1536, 8960, 28, 12, 2, 151936, 131072, 1000000.0, 1e-6, true},
    {"tiny", "LlamaForCausalLM", "llama", 128, 384, 2, 4, 2, 320, 512, 10000.0, 1e-5, false},
};

const Shape& find_shape(const std::string& name) {
  for (const Shape& s : kShapes)
    if (name == s.name) return s;
  throw Error::mismatch(ErrorCode::invalid_argument, "", "--shape", "llama2-7b, llama3-8b, qwen2-1.5b or tiny",
                        "\"" + name + "\"");
}
}  // namespace

std::vector<std::string> model_shapes() {
  std::vector<std::string> v;
  for (const Shape& s : kShapes) v.emplace_back(s.name);
  return v;
}

json shape_config(const std::string& shape, int layers) {
  const Shape& s = find_shape(shape);
  if (layers < 0)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--layers", ">= 1 (0 = the shape's own)",
                          std::to_string(layers));
  ModelConfig c;
  c.architecture = s.arch;
  c.model_type = s.model_type;
  c.hidden_size = static_cast<int>(s.hidden);
  c.intermediate_size = static_cast<int>(s.inter);
  c.num_hidden_layers = layers > 0 ? layers : s.layers;
  c.num_attention_heads = s.heads;
  c.num_key_value_heads = s.kv_heads;
  c.vocab_size = static_cast<int>(s.vocab);
  c.max_position_embeddings = s.max_pos;
  c.rms_norm_eps = static_cast<float>(s.eps);
  c.rope_theta = static_cast<float>(s.rope_theta);
  c.tie_word_embeddings = s.tie;
  c.attention_bias = std::string(s.model_type) == "qwen2";  // Qwen2's q/k/v carry biases
  // The tokenizer's BOS/EOS ids (256, 257), so generate stops and starts consistently.
  c.bos_token_id = 256;
  c.eos_token_ids = {257};
  c.torch_dtype = "bfloat16";
  json j = to_json(c);
  j["awqx_synthetic"] = fmt::format("random weights of the {} shape (awqx make-model), for speed only", s.name);
  return j;
}

uint64_t make_model(const std::string& out_dir, const MakeModelOptions& opt, const MakeModelProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  json cj = shape_config(opt.shape, opt.layers);
  const Shape& s = find_shape(opt.shape);
  const int n_layers = cj["num_hidden_layers"].get<int>();
  const int64_t H = s.hidden, I = s.inter, V = s.vocab, hd = s.hidden / s.heads;
  const int64_t q_dim = s.heads * hd, kv_dim = s.kv_heads * hd;
  const bool qwen = std::string(s.model_type) == "qwen2";
  if (opt.quantized) {
    const int g = opt.group_size;
    if (g != -1 && (g < 8 || H % g != 0 || I % g != 0))
      throw Error::mismatch(ErrorCode::invalid_argument, "", "--group-size",
                            fmt::format("-1 or a group size >= 8 dividing hidden_size {} and intermediate_size {}", H, I),
                            std::to_string(g));
  }
  if (out_dir.empty()) throw Error::mismatch(ErrorCode::invalid_argument, "", "--out", "a folder path", "\"\"");
  if (fs::exists(out_dir) && !opt.overwrite)
    throw Error::mismatch(ErrorCode::invalid_argument, out_dir, "--out", "a path that does not exist (or --overwrite)",
                          "an existing path");

  uint64_t total = 0;
  // Nothing of a failed run (disk full...) is left: the folder is built in <out>.tmp.
  build_dir_atomic(out_dir, "--out", [&](const std::string& tmp) {
    const DType fp = opt.quantized ? DType::F16 : DType::BF16;  // AutoAWQ checkpoints are fp16
    const int n_steps = n_layers + 2;                           // embed, layers, norm + lm_head
    json weight_map = json::object();
    int step = 0;
    // One shard per step: peak memory is one layer (or the embedding), whatever the model size.
    auto write_shard = [&](std::vector<TensorView> ts) {
      const std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", step + 1, n_steps);
      write_safetensors(path_join(tmp, name), ts);
      for (const TensorView& t : ts) {
        weight_map[t.name] = name;
        total += t.nbytes;
      }
      ++step;
      if (progress)
        progress({step, n_steps, total, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
    };
    auto linear = [&](std::vector<TensorView>& ts, const std::string& prefix, int64_t n, int64_t k, bool bias) {
      if (opt.quantized) {
        random_q4(ts, prefix, n, k, opt.group_size == -1 ? static_cast<int>(k) : opt.group_size, bias, opt.seed);
        return;
      }
      ts.push_back(random_fp(prefix + ".weight", fp, n, k, opt.seed, kStd));
      if (bias) ts.push_back(random_fp(prefix + ".bias", fp, 1, n, opt.seed, kStd));
    };

    write_shard({random_fp("model.embed_tokens.weight", fp, V, H, opt.seed, kStd)});
    for (int l = 0; l < n_layers; ++l) {
      const std::string p = fmt::format("model.layers.{}.", l);
      std::vector<TensorView> ts;
      ts.push_back(random_fp(p + "input_layernorm.weight", fp, 1, H, opt.seed, 0.0f, 1.0f));
      linear(ts, p + "self_attn.q_proj", q_dim, H, qwen);
      linear(ts, p + "self_attn.k_proj", kv_dim, H, qwen);
      linear(ts, p + "self_attn.v_proj", kv_dim, H, qwen);
      linear(ts, p + "self_attn.o_proj", H, q_dim, false);
      ts.push_back(random_fp(p + "post_attention_layernorm.weight", fp, 1, H, opt.seed, 0.0f, 1.0f));
      linear(ts, p + "mlp.gate_proj", I, H, false);
      linear(ts, p + "mlp.up_proj", I, H, false);
      linear(ts, p + "mlp.down_proj", H, I, false);
      write_shard(std::move(ts));
    }
    {
      std::vector<TensorView> ts;
      ts.push_back(random_fp("model.norm.weight", fp, 1, H, opt.seed, 0.0f, 1.0f));
      // lm_head stays FP in AutoAWQ checkpoints too.
      if (!s.tie) ts.push_back(random_fp("lm_head.weight", fp, V, H, opt.seed, kStd));
      write_shard(std::move(ts));
    }
    // The index goes after the shards: until it exists they are not a model.
    write_file_atomic(path_join(tmp, "model.safetensors.index.json"),
                      json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump(2) + "\n");

    if (opt.quantized) {
      QuantConfig qc;
      qc.present = true;
      qc.group_size = opt.group_size;
      cj["quantization_config"] = to_json(qc);
      cj["torch_dtype"] = "float16";
    }
    write_file_atomic(path_join(tmp, "config.json"), cj.dump(2) + "\n");
    write_file_atomic(path_join(tmp, "generation_config.json"),
                      json{{"bos_token_id", 256}, {"eos_token_id", 257}, {"do_sample", false}}.dump(2) + "\n");
    write_byte_tokenizer(tmp, 256, 257);
  });
  return total;
}

}  // namespace awqx

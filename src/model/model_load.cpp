// Model loading: config.json + safetensors → linears (FP views or int4), norms, KV cache.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/safetensors.hpp"
#include "model/linear_source.hpp"
#include "model/model_impl.hpp"

namespace awqx {
namespace {

// Default tokens per forward step (LoadOptions::step_tokens). 512 rather than 128: prefill of a
// 512-token prompt on a 7B-shaped int4 model, 2 threads, was 9-15 % faster with the VNNI GEMM
// (Zen 4) and 10 % with the AMX one (its int4 → int8 unpack is paid once per call); README
// "Prefill step and prefill attention".
constexpr int64_t kChunk = 512;

std::vector<float> load_norm(const TensorStore& st, const std::string& name, int64_t d) {
  const TensorView t = st.get(name);
  t.expect_dtype({DType::F32, DType::F16, DType::BF16});
  t.expect_shape({d});
  return to_f32(t);
}

uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return uint64_t{8} << 30;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

std::unique_ptr<Linear> build_fused_or_null(std::vector<LinearSource>& parts, const std::string& backend) {
  const bool all_q4 = std::all_of(parts.begin(), parts.end(), [](const LinearSource& p) { return p.is_q4; });
  const bool all_fp = std::none_of(parts.begin(), parts.end(), [](const LinearSource& p) { return p.is_q4; });
  if (all_q4) {
    std::vector<const Q4Weights*> ptrs;
    for (const LinearSource& p : parts) ptrs.push_back(&p.q4);
    // Grouping must agree to concatenate (it always does within one AWQ checkpoint).
    for (const LinearSource& p : parts)
      if (p.q4.group_size != parts[0].q4.group_size || p.q4.zero_point != parts[0].q4.zero_point) return nullptr;
    // Free the parts before packing: the load's peak is the model plus this one in-flight copy.
    Q4Weights cat = concat_rows(ptrs);
    for (LinearSource& p : parts) p.q4 = Q4Weights{};
    return make_q4_linear(std::move(cat), backend);
  }
  // FP (bf16) models fuse into one copy of the concatenated rows, allocated on 2 MiB-aligned,
  // THP-advised memory (kernels::aligned_alloc_bytes). Measured on a Llama-2-7B-shaped 8-layer
  // bf16 model: 6.3 tok/s decode fused vs 5.0 for the separate mmapped (4 KiB-page) linears; an
  // earlier fused copy on plain 16-byte-aligned heap memory decoded at 1.0 tok/s.
  if (all_fp) {
    std::vector<TensorView> ws;
    std::vector<float> bias;
    const bool any_bias =
        std::any_of(parts.begin(), parts.end(), [](const LinearSource& p) { return !p.bias.empty(); });
    for (const LinearSource& p : parts) {
      ws.push_back(p.w);
      if (any_bias) {
        if (p.bias.empty())
          bias.insert(bias.end(), static_cast<size_t>(p.n), 0.0f);
        else
          bias.insert(bias.end(), p.bias.begin(), p.bias.end());
      }
    }
    return make_fp_linear_fused(ws, std::move(bias), backend);
  }
  return nullptr;  // mixed FP / int4 (modules_to_not_convert hit only some): stay unfused
}

}  // namespace

std::unique_ptr<Model::Impl> load_model_impl(const std::string& dir, const LoadOptions& opts) {
  if (opts.max_seq_len < 0)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "max_seq_len", ">= 0",
                          std::to_string(opts.max_seq_len));
  if (opts.step_tokens < 0)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "step_tokens", ">= 0 (0 = default)",
                          std::to_string(opts.step_tokens));
  auto s = std::make_unique<Model::Impl>();
  s->dir = dir;
  s->cfg = ModelConfig::load(dir);
  const ModelConfig& c = s->cfg;
  s->hidden = c.hidden_size;
  s->inter = c.intermediate_size;
  s->vocab = c.vocab_size;
  s->n_heads = c.num_attention_heads;
  s->n_kv = c.num_key_value_heads;
  s->head_dim = c.head_dim;
  s->q_dim = static_cast<int64_t>(s->n_heads) * s->head_dim;
  s->kv_dim = static_cast<int64_t>(s->n_kv) * s->head_dim;
  s->qkv_dim = s->q_dim + 2 * s->kv_dim;
  s->eps = c.rms_norm_eps;
  const std::string cfg_file = dir + "/config.json";
  if (s->hidden <= 0 || s->inter <= 0 || s->vocab <= 0 || s->n_heads <= 0 || s->n_kv <= 0 || s->head_dim <= 0 ||
      s->head_dim % 2 != 0 || s->n_heads % s->n_kv != 0 || c.num_hidden_layers <= 0)
    throw Error(ErrorCode::format, cfg_file, "num_attention_heads",
                fmt::format("expected positive sizes, even head_dim and heads divisible by kv heads, found "
                            "hidden {} heads {} kv {} head_dim {} layers {}",
                            s->hidden, s->n_heads, s->n_kv, s->head_dim, c.num_hidden_layers));

  const TensorStore st = TensorStore::open_dir(dir);
  const LinearLoader loader{st, c, opts.backend};

  s->embed = st.get("model.embed_tokens.weight");
  s->embed.expect_dtype({DType::F32, DType::F16, DType::BF16});
  s->embed.expect_shape({s->vocab, s->hidden});
  s->final_norm = load_norm(st, "model.norm.weight", s->hidden);
  if (st.has("lm_head.weight") || st.has("lm_head.qweight"))
    s->lm_head = loader.build(loader.read("lm_head", s->vocab, s->hidden, false));
  else if (c.tie_word_embeddings)
    s->lm_head = make_fp_linear(s->embed, {}, opts.backend);
  else
    throw Error(ErrorCode::format, dir, "lm_head.weight",
                "expected lm_head.weight (tie_word_embeddings is false), found no such tensor");

  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LayerWeights L;
    L.attn_norm = load_norm(st, p + "input_layernorm.weight", s->hidden);
    L.ffn_norm = load_norm(st, p + "post_attention_layernorm.weight", s->hidden);
    const bool qkv_bias = c.attention_bias;
    std::vector<LinearSource> qkv;
    qkv.push_back(loader.read(p + "self_attn.q_proj", s->q_dim, s->hidden, qkv_bias));
    qkv.push_back(loader.read(p + "self_attn.k_proj", s->kv_dim, s->hidden, qkv_bias));
    qkv.push_back(loader.read(p + "self_attn.v_proj", s->kv_dim, s->hidden, qkv_bias));
    if (opts.fuse_layers) L.qkv = build_fused_or_null(qkv, opts.backend);
    if (!L.qkv) {
      L.q = loader.build(std::move(qkv[0]));
      L.k = loader.build(std::move(qkv[1]));
      L.v = loader.build(std::move(qkv[2]));
    }
    L.o = loader.build(loader.read(p + "self_attn.o_proj", s->hidden, s->q_dim, false));
    std::vector<LinearSource> gu;
    gu.push_back(loader.read(p + "mlp.gate_proj", s->inter, s->hidden, false));
    gu.push_back(loader.read(p + "mlp.up_proj", s->inter, s->hidden, false));
    if (opts.fuse_layers) L.gate_up = build_fused_or_null(gu, opts.backend);
    if (!L.gate_up) {
      L.gate = loader.build(std::move(gu[0]));
      L.up = loader.build(std::move(gu[1]));
    }
    L.down = loader.build(loader.read(p + "mlp.down_proj", s->hidden, s->inter, false));
    s->layers.push_back(std::move(L));
    if (opts.progress) opts.progress(l + 1, c.num_hidden_layers);
  }

  // KV cache capacity: the requested length, else the config's, capped at 1/4 of RAM.
  s->kv_type = opts.kv_type;
  const uint64_t per_token = static_cast<uint64_t>(c.num_hidden_layers) * static_cast<uint64_t>(s->kv_dim) * 2 *
                             kv_type_size(opts.kv_type);
  int64_t max_seq = opts.max_seq_len;
  if (max_seq == 0) {
    max_seq = std::max(1, c.max_position_embeddings);
    const uint64_t cap = physical_memory_bytes() / 4 / per_token;
    max_seq = std::max<int64_t>(1, std::min<int64_t>(max_seq, static_cast<int64_t>(cap)));
  } else if (static_cast<uint64_t>(max_seq) > physical_memory_bytes() / per_token) {
    throw Error::mismatch(ErrorCode::invalid_argument, "", "max_seq_len",
                          fmt::format("a KV cache that fits in memory (<= {} tokens)",
                                      physical_memory_bytes() / per_token),
                          std::to_string(max_seq));
  }
  s->max_seq = max_seq;
  s->chunk = std::min(opts.step_tokens > 0 ? opts.step_tokens : kChunk, max_seq);
  // The model's own cache: one sequence in blocks 0, 1, 2, ... (64 positions per block keeps the
  // per-head tiles long; results do not depend on the block size).
  constexpr int64_t kOwnBlock = 64;
  const int64_t own_blocks = (max_seq + kOwnBlock - 1) / kOwnBlock;
  s->own_pool = std::make_unique<KvPool>(c.num_hidden_layers, s->n_kv, s->head_dim, kOwnBlock, own_blocks,
                                         opts.kv_type);
  s->own_table.resize(static_cast<size_t>(own_blocks));
  for (int64_t b = 0; b < own_blocks; ++b) s->own_table[static_cast<size_t>(b)] = static_cast<int32_t>(b);
  const size_t ch = static_cast<size_t>(s->chunk);
  s->x = FloatBuffer(ch * s->hidden);
  s->xn = FloatBuffer(ch * s->hidden);
  s->delta = FloatBuffer(ch * s->hidden);
  s->qkv = FloatBuffer(ch * s->qkv_dim);
  s->att = FloatBuffer(ch * s->q_dim);
  s->gu = FloatBuffer(ch * 2 * s->inter);
  s->act = FloatBuffer(ch * s->inter);
  s->rope = ops::RopeTable(s->head_dim, c.rope_theta, c.rope_scaling, max_seq);
  return s;
}

}  // namespace awqx

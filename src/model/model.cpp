// Llama-family forward pass over a preallocated KV cache (see include/awqx/model.hpp).
// Data flow per layer, with x the fp32 residual stream:
//   xn = rmsnorm(x)                      (fused with the previous residual add)
//   qkv = xn·Wqkvᵀ; RoPE in place on the q and k parts; k, v rows → cache
//   att = attention(q, cache);  delta = att·Woᵀ
//   x += delta; xn = rmsnorm(x)          (add_rmsnorm, one pass)
//   act = silu(xn·Wgᵀ) * (xn·Wuᵀ);  delta = act·Wdᵀ
// and x += delta is folded into the next layer's (or the final) add_rmsnorm.
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/half.hpp"
#include "awqx/parallel.hpp"
#include "model/model_impl.hpp"

namespace awqx {

FloatBuffer::FloatBuffer(size_t n) : n_(n) {
  if (n == 0) return;
  const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  p_.reset(static_cast<float*>(p));
}

namespace {

// x[r] = embedding row tokens[r] in fp32 (bf16/f16 rows are widened on lookup: the table stays
// in its on-disk dtype, so it costs no extra memory).
void embed_rows(const TensorView& e, const int32_t* tokens, int64_t m, int64_t d, float* x) {
  for (int64_t r = 0; r < m; ++r) {
    const size_t row = static_cast<size_t>(tokens[r]) * static_cast<size_t>(d);
    float* out = x + r * d;
    switch (e.dtype) {
      case DType::F32:
        std::memcpy(out, e.as<float>() + row, static_cast<size_t>(d) * sizeof(float));
        break;
      case DType::BF16: {
        const uint16_t* s = e.as<uint16_t>() + row;
        for (int64_t i = 0; i < d; ++i) out[i] = bf16_to_f32(s[i]);
        break;
      }
      default: {
        const uint16_t* s = e.as<uint16_t>() + row;
        for (int64_t i = 0; i < d; ++i) out[i] = f16_to_f32(s[i]);
        break;
      }
    }
  }
}

}  // namespace

void Model::Impl::forward_chunk(const int32_t* tokens, int64_t m, float* logits, bool all_logits,
                                bool want_logits) {
  const int64_t pos0 = n_past;
  embed_rows(embed, tokens, m, hidden, x.data());
  float* xp = x.data();
  float* xnp = xn.data();
  float* dp = delta.data();
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerWeights& L = layers[l];
    if (l == 0)
      ops::rmsnorm(xp, L.attn_norm.data(), xnp, m, hidden, eps);
    else
      ops::add_rmsnorm(xp, dp, L.attn_norm.data(), xnp, m, hidden, eps);

    float* kc = k_layer(l);
    float* vc = v_layer(l);
    float* f = qkv.data();
    float *kr, *vr;  // this chunk's k / v rows (after RoPE), row stride kv_stride
    int64_t q_stride, kv_stride;
    if (L.qkv) {
      L.qkv->forward(xnp, m, f);
      q_stride = kv_stride = qkv_dim;
      kr = f + q_dim, vr = f + q_dim + kv_dim;
    } else {
      float* kb = f + chunk * q_dim;  // the fused buffer holds chunk·(q_dim + 2·kv_dim) floats
      float* vb = kb + chunk * kv_dim;
      L.q->forward(xnp, m, f);
      L.k->forward(xnp, m, kb);
      L.v->forward(xnp, m, vb);
      q_stride = q_dim, kv_stride = kv_dim;
      kr = kb, vr = vb;
    }
    ops::rope_inplace(f, m, q_stride, n_heads, pos0, rope);
    ops::rope_inplace(kr, m, kv_stride, n_kv, pos0, rope);
    // Cache is head-major [kv head][max_seq][head_dim]: attention then streams each head's keys
    // and values contiguously (token-major rows put 16 KiB between a head's consecutive keys).
    const size_t row_bytes = static_cast<size_t>(head_dim) * sizeof(float);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t h = 0; h < n_kv; ++h) {
        const int64_t dst = h * max_seq * head_dim + (pos0 + r) * head_dim, src = r * kv_stride + h * head_dim;
        std::memcpy(kc + dst, kr + src, row_bytes);
        std::memcpy(vc + dst, vr + src, row_bytes);
      }
    ops::attention(f, m, q_stride, ops::KvView{kc, vc, head_dim, max_seq * head_dim}, pos0, n_heads, n_kv, head_dim,
                   att.data(), q_dim);
    L.o->forward(att.data(), m, dp);
    ops::add_rmsnorm(xp, dp, L.ffn_norm.data(), xnp, m, hidden, eps);

    if (L.gate_up) {
      L.gate_up->forward(xnp, m, gu.data());
      ops::silu_mul_fused(gu.data(), m, inter, act.data());
    } else {
      float* g = gu.data();
      float* u = g + chunk * inter;
      L.gate->forward(xnp, m, g);
      L.up->forward(xnp, m, u);
      ops::silu_mul(g, u, act.data(), m * inter);
    }
    L.down->forward(act.data(), m, dp);
  }
  n_past = pos0 + m;
  if (!want_logits) return;
  if (all_logits) {
    ops::add_rmsnorm(xp, dp, final_norm.data(), xnp, m, hidden, eps);
    lm_head->forward(xnp, m, logits);
  } else {
    // Only the last row feeds the head: normalize just that row.
    float* xl = xp + (m - 1) * hidden;
    ops::add_rmsnorm(xl, dp + (m - 1) * hidden, final_norm.data(), xnp, 1, hidden, eps);
    lm_head->forward(xnp, 1, logits);
  }
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& dir, const LoadOptions& opts) {
  return std::unique_ptr<Model>(new Model(load_model_impl(dir, opts)));
}

const ModelConfig& Model::config() const noexcept { return impl_->cfg; }
int64_t Model::vocab_size() const noexcept { return impl_->vocab; }
int64_t Model::max_seq_len() const noexcept { return impl_->max_seq; }
int64_t Model::chunk_size() const noexcept { return impl_->chunk; }
void Model::reset() noexcept { impl_->n_past = 0; }
int64_t Model::n_past() const noexcept { return impl_->n_past; }

void Model::forward(const int32_t* tokens, int64_t m, float* logits, bool all_logits) {
  Impl& s = *impl_;
  if (m < 1) throw Error::mismatch(ErrorCode::invalid_argument, "", "tokens", "at least 1 token", "0");
  if (m > s.max_seq - s.n_past)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "max_seq_len",
                          fmt::format("n_past + tokens <= {} (KV cache capacity; raise --max-seq-len)", s.max_seq),
                          fmt::format("{} + {}", s.n_past, m));
  for (int64_t i = 0; i < m; ++i)
    if (tokens[i] < 0 || tokens[i] >= s.vocab)
      throw Error::mismatch(ErrorCode::invalid_argument, "", "tokens",
                            fmt::format("token ids in [0, {})", s.vocab),
                            fmt::format("{} at index {}", tokens[i], i));
  for (int64_t off = 0; off < m; off += s.chunk) {
    const int64_t mc = std::min(s.chunk, m - off);
    const bool last = off + mc == m;
    float* out = all_logits ? logits + off * s.vocab : logits;
    s.forward_chunk(tokens + off, mc, out, all_logits, all_logits || last);
  }
}

size_t Model::weight_bytes() const noexcept {
  const Impl& s = *impl_;
  size_t b = s.lm_head->weight_bytes() + static_cast<size_t>(s.hidden) * dtype_size(s.embed.dtype);
  for (const LayerWeights& L : s.layers)
    for (const Linear* p : {L.qkv.get(), L.q.get(), L.k.get(), L.v.get(), L.o.get(), L.gate_up.get(),
                            L.gate.get(), L.up.get(), L.down.get()})
      if (p) b += p->weight_bytes();
  return b;
}

size_t Model::kv_cache_bytes() const noexcept {
  return (impl_->k_cache.size() + impl_->v_cache.size()) * sizeof(float);
}

std::string Model::describe() const {
  const Impl& s = *impl_;
  const ModelConfig& c = s.cfg;
  std::string out = fmt::format(
      "{} ({}): {} layers, hidden {}, intermediate {}, heads {} (kv {}, head_dim {}), vocab {}, "
      "rope_theta {}{}, {}\n",
      c.architecture, s.dir, c.num_hidden_layers, s.hidden, s.inter, s.n_heads, s.n_kv, s.head_dim, s.vocab,
      c.rope_theta, c.rope_scaling.type.empty() ? "" : " (" + c.rope_scaling.type + " scaling)",
      c.quant.present ? fmt::format("AWQ w{} g{}", c.quant.bits, c.quant.group_size) : std::string("FP"));
  out += fmt::format("embed {} {}, lm_head: {}\n", dtype_name(s.embed.dtype), shape_str(s.embed.shape),
                     s.lm_head->describe());
  if (!s.layers.empty()) {
    const LayerWeights& L = s.layers[0];
    auto line = [&](const char* name, const Linear* p) {
      if (p) out += fmt::format("layer 0 {}: [{} x {}] {}\n", name, p->n(), p->k(), p->describe());
    };
    line("qkv", L.qkv.get());
    line("q", L.q.get());
    line("k", L.k.get());
    line("v", L.v.get());
    line("o", L.o.get());
    line("gate_up", L.gate_up.get());
    line("gate", L.gate.get());
    line("up", L.up.get());
    line("down", L.down.get());
  }
  out += fmt::format("KV cache: {} tokens, {:.1f} MiB; weights read per token: {:.1f} MiB\n", s.max_seq,
                     kv_cache_bytes() / 1048576.0, weight_bytes() / 1048576.0);
  return out;
}

}  // namespace awqx

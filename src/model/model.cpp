// Llama-family forward pass over a preallocated KV cache (see include/awqx/model.hpp).
// Data flow per layer, with x the fp32 residual stream:
//   xn = rmsnorm(x)                      (fused with the previous residual add)
//   qkv = xn·Wqkvᵀ; RoPE in place on the q and k parts; k, v rows → cache
//   att = attention(q, cache);  delta = att·Woᵀ
//   x += delta; xn = rmsnorm(x)          (add_rmsnorm, one pass)
//   act = silu(xn·Wgᵀ) * (xn·Wuᵀ);  delta = act·Wdᵀ
// and x += delta is folded into the next layer's (or the final) add_rmsnorm.
#include <algorithm>
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

// Writes rows [r0, r0 + m) of this step's k/v (after RoPE; row stride `stride`) at positions
// n_past.. of a sequence, converting to the pool's element type.
void store_kv(KvPool& pool, size_t layer, const SeqChunk& sq, const float* kr, const float* vr, int64_t stride,
              int n_kv, int head_dim) {
  const int64_t bs = pool.block_size();
  const size_t es = kv_type_size(pool.type());
  for (int64_t r = 0; r < sq.m; ++r) {
    const int64_t p = sq.n_past + r;
    const int64_t blk = sq.block_table[p / bs];
    for (int64_t h = 0; h < n_kv; ++h) {
      const size_t dst = (static_cast<size_t>(blk) * static_cast<size_t>(pool.block_stride()) +
                          static_cast<size_t>(pool.offset(static_cast<int64_t>(layer), h)) +
                          static_cast<size_t>((p % bs) * head_dim)) * es;
      const float* ks = kr + r * stride + h * head_dim;
      const float* vs = vr + r * stride + h * head_dim;
      char* kd = static_cast<char*>(pool.k()) + dst;
      char* vd = static_cast<char*>(pool.v()) + dst;
      switch (pool.type()) {
        case KvType::f32:
          std::memcpy(kd, ks, static_cast<size_t>(head_dim) * 4);
          std::memcpy(vd, vs, static_cast<size_t>(head_dim) * 4);
          break;
        case KvType::f16:
          for (int d = 0; d < head_dim; ++d) {
            reinterpret_cast<uint16_t*>(kd)[d] = f32_to_f16(ks[d]);
            reinterpret_cast<uint16_t*>(vd)[d] = f32_to_f16(vs[d]);
          }
          break;
        case KvType::bf16:
          for (int d = 0; d < head_dim; ++d) {
            reinterpret_cast<uint16_t*>(kd)[d] = f32_to_bf16(ks[d]);
            reinterpret_cast<uint16_t*>(vd)[d] = f32_to_bf16(vs[d]);
          }
          break;
      }
    }
  }
}

}  // namespace

void Model::Impl::validate(const SeqChunk* seqs, int64_t n, const KvPool& pool) const {
  if (pool.layers() != static_cast<int64_t>(layers.size()) || pool.kv_heads() != n_kv ||
      pool.head_dim() != head_dim || pool.type() != kv_type)
    throw Error(ErrorCode::invalid_argument, "", "pool", "KV pool made for another model (use make_kv_pool)");
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const SeqChunk& q = seqs[i];
    if (q.m < 1 || !q.tokens || !q.block_table)
      throw Error::mismatch(ErrorCode::invalid_argument, "", "seqs", "m >= 1 tokens and a block table",
                            fmt::format("sequence {} with m = {}", i, q.m));
    if (q.n_past < 0 || q.n_past + q.m > max_seq)
      throw Error::mismatch(ErrorCode::invalid_argument, "", "max_seq_len",
                            fmt::format("n_past + tokens <= {} (KV cache capacity; raise --max-seq-len)", max_seq),
                            fmt::format("{} + {}", q.n_past, q.m));
    for (int64_t t = 0; t < q.m; ++t)
      if (q.tokens[t] < 0 || q.tokens[t] >= vocab)
        throw Error::mismatch(ErrorCode::invalid_argument, "", "tokens", fmt::format("token ids in [0, {})", vocab),
                              fmt::format("{} at index {}", q.tokens[t], t));
    const int64_t last_block = (q.n_past + q.m - 1) / pool.block_size();
    for (int64_t b = 0; b <= last_block; ++b)
      if (q.block_table[b] < 0 || q.block_table[b] >= pool.n_blocks())
        throw Error::mismatch(ErrorCode::invalid_argument, "", "block_table",
                              fmt::format("block ids in [0, {})", pool.n_blocks()),
                              fmt::format("{} at index {}", q.block_table[b], b));
    total += q.m;
  }
  if (total < 1 || total > chunk)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "tokens", fmt::format("1 to {} tokens per step", chunk),
                          std::to_string(total));
}

void Model::Impl::step(const SeqChunk* seqs, int64_t n, KvPool& pool, float* logits, bool all_rows) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    embed_rows(embed, seqs[i].tokens, seqs[i].m, hidden, x.data() + m * hidden);
    m += seqs[i].m;
  }
  float* xp = x.data();
  float* xnp = xn.data();
  float* dp = delta.data();
  const size_t es = kv_type_size(pool.type());
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerWeights& L = layers[l];
    if (l == 0)
      ops::rmsnorm(xp, L.attn_norm.data(), xnp, m, hidden, eps);
    else
      ops::add_rmsnorm(xp, dp, L.attn_norm.data(), xnp, m, hidden, eps);

    float* f = qkv.data();
    float *kr, *vr;  // this step's k / v rows (after RoPE), row stride kv_stride
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
    // Per sequence: RoPE at its own positions, its k/v into its blocks, attention over them.
    const size_t layer_off = static_cast<size_t>(pool.offset(static_cast<int64_t>(l), 0)) * es;
    for (int64_t i = 0, r0 = 0; i < n; r0 += seqs[i].m, ++i) {
      const SeqChunk& sq = seqs[i];
      ops::rope_inplace(f + r0 * q_stride, sq.m, q_stride, n_heads, sq.n_past, rope);
      ops::rope_inplace(kr + r0 * kv_stride, sq.m, kv_stride, n_kv, sq.n_past, rope);
      store_kv(pool, l, sq, kr + r0 * kv_stride, vr + r0 * kv_stride, kv_stride, n_kv, head_dim);
      ops::KvRows kv{static_cast<const char*>(pool.k()) + layer_off, static_cast<const char*>(pool.v()) + layer_off};
      kv.table = sq.block_table;
      kv.block_size = pool.block_size();
      kv.block_stride = pool.block_stride();
      kv.pos_stride = head_dim;
      kv.head_stride = pool.block_size() * head_dim;
      kv.type = pool.type();
      ops::attention(f + r0 * q_stride, sq.m, q_stride, kv, sq.n_past, n_heads, n_kv, head_dim,
                     att.data() + r0 * q_dim, q_dim);
    }
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
  if (all_rows) {
    ops::add_rmsnorm(xp, dp, final_norm.data(), xnp, m, hidden, eps);
    lm_head->forward(xnp, m, logits);
    return;
  }
  // Only the rows whose logits are wanted feed the head: normalize just those, packed.
  logit_rows.clear();
  for (int64_t i = 0, r0 = 0; i < n; r0 += seqs[i].m, ++i)
    if (seqs[i].want_logits) logit_rows.push_back(r0 + seqs[i].m - 1);
  const int64_t nl = static_cast<int64_t>(logit_rows.size());
  for (int64_t j = 0; j < nl; ++j) {
    const int64_t r = logit_rows[static_cast<size_t>(j)];
    ops::add_rmsnorm(xp + r * hidden, dp + r * hidden, final_norm.data(), xnp + j * hidden, 1, hidden, eps);
  }
  if (nl > 0) lm_head->forward(xnp, nl, logits);
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
    SeqChunk sq;
    sq.tokens = tokens + off;
    sq.m = mc;
    sq.n_past = s.n_past;
    sq.block_table = s.own_table.data();
    sq.want_logits = last;
    s.step(&sq, 1, *s.own_pool, all_logits ? logits + off * s.vocab : logits, all_logits);
    s.n_past += mc;
  }
}

void Model::forward_batch(const SeqChunk* seqs, int64_t n, KvPool& pool, float* logits) {
  Impl& s = *impl_;
  s.validate(seqs, n, pool);
  s.step(seqs, n, pool, logits, false);
}

std::unique_ptr<KvPool> Model::make_kv_pool(int64_t n_blocks, int64_t block_size) const {
  const Impl& s = *impl_;
  return std::make_unique<KvPool>(static_cast<int64_t>(s.layers.size()), s.n_kv, s.head_dim, block_size, n_blocks,
                                  s.kv_type);
}

KvType Model::kv_type() const noexcept { return impl_->kv_type; }

size_t Model::kv_bytes_per_token() const noexcept {
  const Impl& s = *impl_;
  return 2 * s.layers.size() * static_cast<size_t>(s.kv_dim) * kv_type_size(s.kv_type);
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

size_t Model::kv_cache_bytes() const noexcept { return impl_->own_pool->bytes(); }

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

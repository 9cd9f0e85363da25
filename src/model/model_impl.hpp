// Internal state of awqx::Model (shared by model.cpp = forward pass and model_load.cpp).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "awqx/config.hpp"
#include "awqx/kv_cache.hpp"
#include "awqx/linear.hpp"
#include "awqx/model.hpp"
#include "awqx/tensor.hpp"
#include "model/ops.hpp"

namespace awqx {

// 64-byte aligned fp32 buffer, uninitialized (pages of a large KV cache are only touched when
// used). Move-only.
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n);
  float* data() noexcept { return p_.get(); }
  const float* data() const noexcept { return p_.get(); }
  size_t size() const noexcept { return n_; }

 private:
  struct Free {
    void operator()(float* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<float, Free> p_;
  size_t n_ = 0;
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;  // [hidden]
  std::unique_ptr<Linear> qkv;             // fused [q_dim + 2 kv_dim] or null
  std::unique_ptr<Linear> q, k, v;         // used when qkv is null
  std::unique_ptr<Linear> o;
  std::unique_ptr<Linear> gate_up;  // fused [2 inter] or null
  std::unique_ptr<Linear> gate, up;
  std::unique_ptr<Linear> down;
};

struct Model::Impl {
  ModelConfig cfg;
  std::string dir;
  int64_t hidden = 0, inter = 0, vocab = 0, q_dim = 0, kv_dim = 0, qkv_dim = 0;
  int n_heads = 0, n_kv = 0, head_dim = 0;
  float eps = 1e-6f;

  TensorView embed;  // [vocab][hidden] F32/F16/BF16, a view of the mapped file
  std::vector<float> final_norm;
  std::unique_ptr<Linear> lm_head;
  std::vector<LayerWeights> layers;
  ops::RopeTable rope;

  int64_t max_seq = 0, chunk = 0, n_past = 0;
  std::unique_ptr<KvPool> own_pool;  // the cache of forward(): one sequence, blocks in order
  std::vector<int32_t> own_table;     // 0, 1, 2, ...
  KvType kv_type = KvType::f32;
  // Activations for up to `chunk` tokens.
  FloatBuffer x, xn, delta, qkv, att, gu, act;

  std::vector<int64_t> logit_rows;  // rows of the step whose logits are wanted (scratch)
  // One batched step (validated by the caller); all_rows: logits for every row (perplexity).
  void step(const SeqChunk* seqs, int64_t n, KvPool& pool, float* logits, bool all_rows);
  void validate(const SeqChunk* seqs, int64_t n, const KvPool& pool) const;
};

// model_load.cpp
std::unique_ptr<Model::Impl> load_model_impl(const std::string& dir, const LoadOptions& opts);

}  // namespace awqx

// Elementwise and attention ops of the Llama-family graph, fp32 activations, row-major.
// Shared by the inference graph (model/) and the AWQ calibrator (quant/), so both compute the
// same function. Each op parallelizes over rows/heads with awqx::parallel_for; results do not
// depend on the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "awqx/config.hpp"
#include "awqx/kv_cache.hpp"
#include "kernels/row_ops.hpp"

namespace awqx::ops {

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for m rows of d. y may alias x.
void rmsnorm(const float* x, const float* w, float* y, int64_t m, int64_t d, float eps);
// residual[r] += delta[r]; y[r] = rmsnorm(residual[r]). Fused so the residual is read once.
void add_rmsnorm(float* residual, const float* delta, const float* w, float* y, int64_t m, int64_t d, float eps);

// cos/sin tables for rotate-half RoPE (HF layout), with llama3 / linear rope_scaling.
class RopeTable {
 public:
  RopeTable() = default;
  RopeTable(int head_dim, float theta, const RopeScaling& scaling, int64_t max_pos);
  void ensure(int64_t max_pos);  // grows the table (not thread-safe: call before forward)
  int head_dim() const noexcept { return head_dim_; }
  int64_t size() const noexcept { return max_pos_; }
  const float* cos(int64_t pos) const noexcept { return cos_.data() + pos * (head_dim_ / 2); }
  const float* sin(int64_t pos) const noexcept { return sin_.data() + pos * (head_dim_ / 2); }
  const std::vector<float>& inv_freq() const noexcept { return inv_freq_; }

 private:
  int head_dim_ = 0;
  int64_t max_pos_ = 0;
  std::vector<float> inv_freq_, cos_, sin_;
};

// In-place rotate-half RoPE on m rows; row r holds n_heads heads of head_dim at x + r*row_stride,
// at absolute position pos0 + r.
void rope_inplace(float* x, int64_t m, int64_t row_stride, int n_heads, int64_t pos0, const RopeTable& rope);

// Where the cached keys/values of kv head h live: see kernels::KvRows (the SIMD row kernels
// read the same description).
using kernels::KvRows;

// Causal GQA attention. Query row i (absolute position n_past + i) attends to cache positions
// 0..n_past+i (already written). q: [m][q_stride] holding n_heads*head_dim; out: [m][out_stride].
// Each score and each output element is computed the same way whatever the block size or table,
// so a sequence's result does not depend on how its cache is paged.
void attention(const float* q, int64_t m, int64_t q_stride, const KvRows& kv, int64_t n_past, int n_heads,
               int n_kv_heads, int head_dim, float* out, int64_t out_stride);
// Token-major caches [pos][kv_stride] holding n_kv_heads*head_dim per position.
void attention(const float* q, int64_t m, int64_t q_stride, const float* k_cache, const float* v_cache,
               int64_t kv_stride, int64_t n_past, int n_heads, int n_kv_heads, int head_dim, float* out,
               int64_t out_stride);

// out[i] = silu(gate[i]) * up[i] for n values.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);
// Fused gate/up layout: gu[r] = [gate(inter) | up(inter)] for m rows -> out[m][inter].
void silu_mul_fused(const float* gu, int64_t m, int64_t inter, float* out);

// y[m][n] = x[m][k] · w[n][k]ᵀ (fp32 weights; oneDNN sgemm). For the calibrator's search loop.
void matmul_f32(const float* x, const float* w, float* y, int64_t m, int64_t n, int64_t k);

// log p(target) from a row of logits (stable log-softmax).
double log_prob(const float* logits, int64_t vocab, int64_t target);

}  // namespace awqx::ops

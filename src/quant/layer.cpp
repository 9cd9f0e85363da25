// One Llama-family decoder layer in fp32 for the calibrator, built from the same ops as the
// inference graph (model/ops.hpp), so calibration sees the function inference computes.
#include <cstring>

#include "awqx/parallel.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {

const char* const kLinNames[kNumLin] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

int64_t LayerShape::out_features(int l) const {
  switch (l) {
    case kQ: return int64_t{n_heads} * head_dim;
    case kK:
    case kV: return int64_t{n_kv} * head_dim;
    case kO:
    case kDown: return hidden;
    default: return inter;
  }
}

int64_t LayerShape::in_features(int l) const {
  switch (l) {
    case kO: return int64_t{n_heads} * head_dim;
    case kDown: return inter;
    default: return hidden;
  }
}

namespace {
void add_bias(float* y, const float* b, int64_t m, int64_t n) {
  if (!b) return;
  parallel_for(0, m, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < n; ++c) y[r * n + c] += b[c];
  });
}
}  // namespace

void attn_block(MatOperand xn, MatOperand wq, const float* bq, MatOperand wk, const float* bk, MatOperand wv,
                const float* bv, MatOperand wo, const LayerShape& s, const ops::RopeTable& rope, int64_t n_blocks,
                int64_t seqlen, float* out, std::vector<float>* o_in, MatPrecision prec, BlockScratch* scratch) {
  const int64_t t = n_blocks * seqlen, h = s.hidden, qd = int64_t{s.n_heads} * s.head_dim,
                kd = int64_t{s.n_kv} * s.head_dim;
  BlockScratch local;
  BlockScratch& sc = scratch ? *scratch : local;
  // Every element is written before it is read (matmul outputs, attention rows): no zeroing.
  sc.q.resize(static_cast<size_t>(t * qd));
  sc.k.resize(static_cast<size_t>(t * kd));
  sc.v.resize(static_cast<size_t>(t * kd));
  search_matmul(xn, wq, sc.q.data(), t, qd, h, prec, seqlen);
  search_matmul(xn, wk, sc.k.data(), t, kd, h, prec, seqlen);
  search_matmul(xn, wv, sc.v.data(), t, kd, h, prec, seqlen);
  add_bias(sc.q.data(), bq, t, qd);
  add_bias(sc.k.data(), bk, t, kd);
  add_bias(sc.v.data(), bv, t, kd);
  std::vector<float>& a = o_in ? *o_in : sc.a;
  a.resize(static_cast<size_t>(t * qd));
  for (int64_t b = 0; b < n_blocks; ++b) {
    float* qb = sc.q.data() + b * seqlen * qd;
    float* kb = sc.k.data() + b * seqlen * kd;
    ops::rope_inplace(qb, seqlen, qd, s.n_heads, 0, rope);
    ops::rope_inplace(kb, seqlen, kd, s.n_kv, 0, rope);
    ops::attention(qb, seqlen, qd, kb, sc.v.data() + b * seqlen * kd, kd, 0, s.n_heads, s.n_kv, s.head_dim,
                   a.data() + b * seqlen * qd, qd);
  }
  search_matmul(a.data(), wo, out, t, h, qd, prec, seqlen);
}

void mlp_block(MatOperand hn, MatOperand wg, MatOperand wu, MatOperand wd, const LayerShape& s, int64_t t,
               int64_t seqlen, float* out, std::vector<float>* act, MatPrecision prec, BlockScratch* scratch) {
  const int64_t h = s.hidden, in = s.inter;
  BlockScratch local;
  BlockScratch& sc = scratch ? *scratch : local;
  sc.q.resize(static_cast<size_t>(t * in));
  sc.k.resize(static_cast<size_t>(t * in));
  search_matmul(hn, wg, sc.q.data(), t, in, h, prec, seqlen);
  search_matmul(hn, wu, sc.k.data(), t, in, h, prec, seqlen);
  ops::silu_mul(sc.q.data(), sc.k.data(), sc.q.data(), t * in);
  search_matmul(sc.q.data(), wd, out, t, h, in, prec, seqlen);
  if (act) *act = std::move(sc.q);
}

void layer_forward(const LayerWeights& lw, const LayerShape& s, const ops::RopeTable& rope, const float* x,
                   int64_t n_blocks, int64_t seqlen, float* out, LayerInputs* rec) {
  const int64_t t = n_blocks * seqlen, h = s.hidden;
  auto bias = [&](int l) { return lw.b[l].empty() ? nullptr : lw.b[l].data(); };
  std::vector<float> xn(static_cast<size_t>(t * h)), delta(static_cast<size_t>(t * h));
  ops::rmsnorm(x, lw.ln1.data(), xn.data(), t, h, s.eps);
  attn_block(xn.data(), lw.w[kQ].data(), bias(kQ), lw.w[kK].data(), bias(kK), lw.w[kV].data(), bias(kV),
             lw.w[kO].data(), s, rope, n_blocks, seqlen, delta.data(), rec ? &rec->o_in : nullptr);
  if (out != x) std::memcpy(out, x, static_cast<size_t>(t * h) * sizeof(float));
  std::vector<float> hn(static_cast<size_t>(t * h));
  ops::add_rmsnorm(out, delta.data(), lw.ln2.data(), hn.data(), t, h, s.eps);  // out = x + attn
  mlp_block(hn.data(), lw.w[kGate].data(), lw.w[kUp].data(), lw.w[kDown].data(), s, t, seqlen, delta.data(),
            rec ? &rec->down_in : nullptr);
  parallel_for(0, t * h, 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] += delta[i];
  });
  if (rec) {
    rec->attn_in = std::move(xn);
    rec->mlp_in = std::move(hn);
  }
}

}  // namespace awqx::quant

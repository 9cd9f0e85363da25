// AWQ internals (see ../shared/docs/awq-reference.md §1-§3): the pseudo-quantizer, one decoder
// layer in fp32 (forward with recorded linear inputs), the activation-aware scale search, its
// application, and the weight-clipping search. All fp32, row-major, W as [out][in].
// Deterministic: every reduction is split in fixed chunks and summed in a fixed order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "awqx/comm.hpp"
#include "awqx/linear.hpp"
#include "model/ops.hpp"

namespace awqx::quant {

struct QParams {
  int w_bit = 4;
  int64_t group_size = 128;  // <= 0: one group per row (whole in_features, AutoAWQ's -1)
  bool zero_point = true;
  int64_t group(int64_t k) const { return group_size > 0 ? group_size : k; }
};

// Quantize-dequantize `g` values in place (§1, round half to even, scale rounded to fp16).
// Optionally returns the unsigned nibbles (symmetric: q + 8), the scale and the zero.
void quant_group(float* w, int64_t g, const QParams& p, uint8_t* q_out, float* scale_out, uint8_t* zero_out);
// Whole matrix [n][k] in place; if q != nullptr it receives the int4 form (Q4Weights n, k, group).
void pseudo_quantize(float* w, int64_t n, int64_t k, const QParams& p, Q4Weights* q = nullptr);
// The scale search's candidate Q(W·s)/s (s == nullptr: Q(W)) of w [n][k] in one pass, into
// f32 and/or bf16 (either may be null): bitwise what copying, scaling the columns, pseudo_quantize
// and unscaling would give, without four passes over the weights.
void fake_quantize_scaled(const float* w, int64_t n, int64_t k, const float* s, const QParams& p, float* f32,
                          uint16_t* bf16);

enum Lin { kQ = 0, kK, kV, kO, kGate, kUp, kDown, kNumLin };
extern const char* const kLinNames[kNumLin];  // "self_attn.q_proj", ...

struct LayerShape {
  int64_t hidden = 0, inter = 0;
  int n_heads = 0, n_kv = 0, head_dim = 0;
  float eps = 1e-6f;
  int64_t out_features(int l) const;
  int64_t in_features(int l) const;
};

struct LayerWeights {
  std::vector<float> ln1, ln2;
  std::vector<float> w[kNumLin];
  std::vector<float> b[kNumLin];  // empty when the linear has no bias (q/k/v of Qwen2 have one)
};

// Inputs of each linear group, recorded by layer_forward (each [T][in]).
struct LayerInputs {
  std::vector<float> attn_in;  // normed hidden states: input of q/k/v
  std::vector<float> o_in;     // attention output: input of o_proj
  std::vector<float> mlp_in;   // normed hidden states: input of gate/up
  std::vector<float> down_in;  // silu(gate) * up: input of down_proj
};

// x, out: [n_blocks*seqlen][hidden]; each block is an independent causal sequence from position 0.
void layer_forward(const LayerWeights& lw, const LayerShape& s, const ops::RopeTable& rope, const float* x,
                   int64_t n_blocks, int64_t seqlen, float* out, LayerInputs* rec);

// Which linears are scaled / clipped / quantized (false = kept in FP: modules_to_not_convert).
// identity_scale and n_check_blocks are awqx's additions (issue 16); both off = AutoAWQ exactly.
// Matmul precision of the search (QuantizeOptions::search_precision, resolved).
enum class MatPrecision { fp32, bf16 };

// A matmul operand of the search: fp32 values and, optionally, the same values already rounded
// to bf16. Operands the scale search reads at every grid point unchanged (recorded inputs, the
// weights it does not vary) are rounded once; fake-quantized candidates are written in bf16
// directly. In bf16 precision a given bf16 copy is used and f32 may be null; in fp32 only f32 is read.
struct MatOperand {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
  MatOperand(const float* f) : f32(f) {}  // NOLINT(google-explicit-constructor): plain fp32 operands
  MatOperand(const float* f, const uint16_t* b) : f32(f), bf16(b) {}
};

// y[m][n] = x[m][k]·w[n][k]ᵀ in the given precision: fp32 = oneDNN sgemm; bf16 = x and w
// rounded to bf16, fp32 accumulation (oneDNN matmul: AMX tiles or AVX512-BF16). m is a multiple
// of row_unit (0: m); each row's bits depend only on its row unit, not on the thread count or m.
void search_matmul(MatOperand x, MatOperand w, float* y, int64_t m, int64_t n, int64_t k, MatPrecision prec,
                   int64_t row_unit = 0);
// dst[i] = src[i] rounded to bf16 (nearest even; NaN stays NaN), the rounding search_matmul uses.
void round_bf16(const float* src, int64_t n, uint16_t* dst);

// The calibration blocks of this process: [first, first + count) of total, the others on the
// other ranks of comm. A rank holds and forwards only its blocks; every loss of the search is a
// per-block sum, gathered over the ranks and added in block order, so every choice (and the
// output) is the same bytes for any number of ranks.
struct Blocks {
  int64_t total = 0, first = 0, count = 0, seqlen = 0;
  Comm* comm = nullptr;  // nullptr: this process holds all blocks
  static Blocks all(int64_t n_blocks, int64_t seqlen) { return {n_blocks, 0, n_blocks, seqlen, nullptr}; }
  int64_t rows() const { return count * seqlen; }
  Comm& group() const { return comm ? *comm : local_comm(); }
  // Every rank's values concatenated in rank order, i.e. in block order when each rank gives
  // the values of its own blocks.
  template <class T>
  std::vector<T> gather(const std::vector<T>& mine) const {
    return comm ? allgather_values(*comm, mine) : mine;
  }
};

struct AwqParams {
  QParams q;
  MatPrecision precision = MatPrecision::fp32;
  int n_grid = 20;
  bool duo_scaling = true;
  bool apply_clip = true;
  bool identity_scale = false;  // s = 1 (plain RTN of the group) is a candidate, evaluated first
  // The last n_check_blocks calibration blocks are the check set, the others the fit set: a
  // scale (clip) is a candidate only if it lowers the loss below s = 1's (no clip's) on both;
  // among those the lowest loss over all blocks wins, else s = 1 / no clip. A linear's clip is
  // also dropped if it does not lower its group's loss on the check blocks.
  // 0 = no check set: the lowest loss over all blocks wins (AutoAWQ).
  int64_t n_check_blocks = 0;
  bool quantize[kNumLin] = {true, true, true, true, true, true, true};
};

// Scaling groups in AutoAWQ's order, as reported.
enum ScaleGroup { kGroupQkv = 0, kGroupO, kGroupGateUp, kGroupDown, kNumGroups };
extern const char* const kGroupNames[kNumGroups];  // "qkv", "o", "gate_up", "down"

// Why the chosen scale won. kRatio: grid point best_ratio; kIdentity: s = 1 had the lowest
// loss; kIdentityByCheck: some grid point beat s = 1 on the fit blocks, none also on the check blocks.
enum class ScaleChoice { kSkipped, kRatio, kIdentity, kIdentityByCheck };

struct AwqLayerReport {
  double loss[4] = {0, 0, 0, 0};   // best scale-search loss per group (qkv, o, gate/up, down); -1 skipped
  int best_ratio[4] = {-1, -1, -1, -1};  // grid index of the chosen scale; -1 = skipped or s = 1
  ScaleChoice choice[4] = {ScaleChoice::kSkipped, ScaleChoice::kSkipped, ScaleChoice::kSkipped, ScaleChoice::kSkipped};
  // Block loss (mean squared error of the inspected module's output) on the fit and check
  // blocks, of plain RTN (s = 1) and of the choice; -1 where not computed (no identity
  // candidate: rtn_*; no check set: *_check). Without a check set "fit" is all blocks.
  double rtn_fit[4] = {-1, -1, -1, -1}, rtn_check[4] = {-1, -1, -1, -1};
  double fit[4] = {-1, -1, -1, -1}, check[4] = {-1, -1, -1, -1};
  // Clip search per linear: (row, group) pairs clipped / reverted because the check tokens
  // disagreed / all; and whether the linear's clip was dropped by the block check.
  int64_t clip_kept[kNumLin] = {}, clip_reverted[kNumLin] = {}, clip_groups[kNumLin] = {};
  bool clip_dropped[kNumLin] = {};
};

// Scale search for all groups on the original weights, then apply (fold into norms / previous
// linears, divide recorded inputs), then clip search. Weights modified in place; rec too.
// rec holds this rank's blocks (bl); the result is identical on every rank.
void awq_scale_and_clip(LayerWeights& lw, const LayerShape& s, const ops::RopeTable& rope, LayerInputs& rec,
                        const Blocks& bl, const AwqParams& p, AwqLayerReport* report);

struct ClipStats {
  int64_t kept = 0, reverted = 0, groups = 0;  // reverted: (row, group)s whose best clip failed the check
};
// Clip search (§2) for one weight [n][k] with input x [bl.rows()][k] (this rank's blocks):
// clamps w in place, the same on every rank. With 0 < t_fit < all tokens, tokens [0, t_fit) are
// fit tokens and the rest check tokens: a clip is then a candidate only if it lowers the
// (row, group)'s error on the sampled fit and check tokens both; the best candidate on all
// sampled tokens wins (no clip when none qualifies). The weight groups are split over the ranks.
void clip_weight(float* w, int64_t n, int64_t k, const float* x, const Blocks& bl, const QParams& p,
                 int64_t t_fit = 0, ClipStats* stats = nullptr, MatPrecision prec = MatPrecision::fp32);

// Sum of squared differences / count, deterministic.
double mse(const float* a, const float* b, int64_t n);
// Sum of squared differences of each of n_blocks consecutive blocks of `per_block` values,
// each summed in a fixed order (independent of the thread count).
std::vector<double> block_sq_err(const float* a, const float* b, int64_t n_blocks, int64_t per_block);

}  // namespace awqx::quant

namespace awqx::quant {
// Activation buffers of attn_block / mlp_block kept across calls: the scale search calls them
// about twenty times per group, and fresh multi-MB vectors would page-fault and be zeroed each time.
struct BlockScratch {
  std::vector<float> q, k, v, a;
};
// Pieces of layer_forward used as "modules to inspect" by the scale search.
// Self-attention incl. o_proj on normed input xn [T][hidden] -> out [T][hidden]; o_in (optional)
// receives the attention output [T][n_heads*head_dim].
void attn_block(MatOperand xn, MatOperand wq, const float* bq, MatOperand wk, const float* bk, MatOperand wv,
                const float* bv, MatOperand wo, const LayerShape& s, const ops::RopeTable& rope, int64_t n_blocks,
                int64_t seqlen, float* out, std::vector<float>* o_in, MatPrecision prec = MatPrecision::fp32,
                BlockScratch* scratch = nullptr);
// MLP on normed input hn [T][hidden] -> out [T][hidden]; act (optional) receives silu(gate)*up.
// t rows in units of seqlen (the matmuls' row unit).
void mlp_block(MatOperand hn, MatOperand wg, MatOperand wu, MatOperand wd, const LayerShape& s, int64_t t,
               int64_t seqlen, float* out, std::vector<float>* act, MatPrecision prec = MatPrecision::fp32,
               BlockScratch* scratch = nullptr);
}  // namespace awqx::quant

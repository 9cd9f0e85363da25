// AutoAWQ on-disk int4 formats <-> awqx's kernel-neutral Q4Weights ("q4n", linear.hpp).
//
// Format "q4awq" (AutoAWQ WQLinear_GEMM, what transformers / vLLM load), per linear with
// in_features K, out_features N, group g (K when group_size == -1):
//   qweight int32 [K, N/8]   q[k][n] packed along N; word (k, c) holds channels 8c..8c+7 in the
//                            AWQ order kAwqOrder: nibble slot i (bits 4i..4i+3) = channel 8c+kAwqOrder[i]
//   qzeros  int32 [K/g, N/8] zero points, packed like qweight (optional for symmetric: implicit 8)
//   scales  f16   [K/g, N]
//   bias    f16   [N]        optional
//   W[n][k] = (q[k][n] - z[k/g][n]) * scale[k/g][n]
// Format "q4awq_gemv" (AutoAWQ WQLinear_GEMV):
//   qweight int32 [N, K/8]   packed along K in natural order: nibble slot i of word (n, c) = q[n][8c+i]
//   qzeros  int32 [N, W]     W = gemv_zeros_width(K, g); group j in word j/8, slot j%8 (natural)
//   scales  f16   [N, 8*W]   first K/g columns used, the rest padding
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "awqx/linear.hpp"
#include "awqx/tensor.hpp"

namespace awqx {

inline constexpr std::array<int, 8> kAwqOrder = {0, 2, 4, 6, 1, 3, 5, 7};

// Tensors of one quantized linear, named "<prefix>.qweight" etc. Owned views (ready to write).
struct AwqGemmTensors {
  TensorView qweight, qzeros, scales;
  std::optional<TensorView> bias;
};

// Width (in int32 words) of AutoAWQ GEMV qzeros for in_features k and group size g (g = k for
// per-channel): ceil((k/g)/8) rounded up to a multiple of 1, 2, 4 for g >= 128, 64, 32
// (other group sizes: no rounding). Scales have 8x this many columns.
int64_t gemv_zeros_width(int64_t k, int64_t group_size);

// Resolves -1 to k and checks 1 <= g, k % g == 0; Error{shape} naming file/prefix otherwise.
int64_t resolve_group_size(int group_size, int64_t k, const std::string& file, const std::string& prefix);

// Loads an AutoAWQ GEMM linear into q4n. qzeros == nullptr is allowed only when !zero_point
// (implicit zero 8). With zero_point false and qzeros present, all nibbles must be 8 unless the
// checkpoint really stores other zeros, in which case they are kept (the result has zero_point
// true, because the dequantization formula is what the file means). group_size -1 = K.
// Throws Error{dtype} (wrong dtypes), Error{shape} (shapes vs group size, N % 8, K % g),
// Error{format} (NaN/Inf scales or bias, zero_point true without qzeros), naming `file` and
// "<prefix>.<tensor>" with expected/found.
Q4Weights awq_unpack_gemm(const TensorView& qweight, const TensorView* qzeros, const TensorView& scales,
                          const TensorView* bias, int group_size, bool zero_point, const std::string& file,
                          const std::string& prefix);
// Same for AutoAWQ's GEMV layout (see the header comment). Padding columns are ignored.
Q4Weights awq_unpack_gemv(const TensorView& qweight, const TensorView* qzeros, const TensorView& scales,
                          const TensorView* bias, int group_size, bool zero_point, const std::string& file,
                          const std::string& prefix);

// Packs q4n weights into AutoAWQ GEMM tensors "<prefix>.qweight/.qzeros/.scales(/.bias)".
// Scales and bias are rounded to fp16 (so quantize with fp16-representable scales for an exact
// round trip). qzeros are always written (8s for symmetric), as AutoAWQ checkpoints do.
// Error{shape} if n % 8 != 0 or w is inconsistent (Q4Weights::validate).
AwqGemmTensors awq_pack_gemm(const Q4Weights& w, const std::string& prefix);
// Same into AutoAWQ's GEMV layout (padded qzeros/scales widths, padding zero).
AwqGemmTensors awq_pack_gemv(const Q4Weights& w, const std::string& prefix);

}  // namespace awqx

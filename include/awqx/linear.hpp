// Linear layers as the model sees them: y[m][n] = x[m][k] · Wᵀ + bias, fp32 activations.
// The weight may be int4 (Q4Weights, repacked once into the chosen kernel's layout) or FP
// (bf16/f16/f32, possibly still memory-mapped). Kernels are chosen once, at construction, through
// the kernel registry (kernels.hpp); forward() is one indirect call, allocation-free for m == 1.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "awqx/tensor.hpp"

namespace awqx {

// Kernel-neutral int4 weights ("q4n": natural layout). n = out_features, k = in_features.
// This is the interchange format between the AWQ packer (AutoAWQ on-disk order), the quantizer,
// and every kernel's pack() function.
struct Q4Weights {
  int64_t n = 0, k = 0;
  int group_size = 128;        // k % group_size == 0; == k for per-channel (-1 in configs)
  bool zero_point = true;
  std::vector<uint8_t> qdata;  // [n][k/2]: byte (r, j) = q[r][2j] | q[r][2j+1] << 4  (k even)
  std::vector<float> scales;   // [n][k/group_size] (fp16-representable values when from disk)
  std::vector<uint8_t> zeros;  // [n][k/group_size], 0..15 (8 everywhere when !zero_point)
  std::vector<float> bias;     // empty or [n]

  int64_t groups() const noexcept { return k / group_size; }
  uint8_t q(int64_t r, int64_t c) const noexcept {
    const uint8_t b = qdata[static_cast<size_t>(r * (k / 2) + c / 2)];
    return (c & 1) ? (b >> 4) : (b & 0xF);
  }
  void set_q(int64_t r, int64_t c, uint8_t v) noexcept {
    uint8_t& b = qdata[static_cast<size_t>(r * (k / 2) + c / 2)];
    b = (c & 1) ? static_cast<uint8_t>((b & 0x0F) | (v << 4)) : static_cast<uint8_t>((b & 0xF0) | (v & 0xF));
  }
  float dequant(int64_t r, int64_t c) const noexcept {
    const int64_t g = r * groups() + c / group_size;
    return (static_cast<float>(q(r, c)) - static_cast<float>(zeros[g])) * scales[g];
  }
  // Allocates storage for n×k with the given grouping (q = 0, zeros = 8, scales = 1).
  static Q4Weights empty(int64_t n, int64_t k, int group_size, bool zero_point);
  // Validates sizes/values; Error{shape|format} naming `what` (e.g. the tensor prefix).
  void validate(const std::string& file, const std::string& what) const;
  std::vector<float> dequantize() const;  // [n][k] fp32
};

// Concatenates along n (fused QKV / gate-up). All parts must share k, group_size, zero_point.
Q4Weights concat_rows(const std::vector<const Q4Weights*>& parts);

class Linear {
 public:
  virtual ~Linear() = default;
  virtual int64_t n() const noexcept = 0;
  virtual int64_t k() const noexcept = 0;
  // y[m][n] = x[m][k] · Wᵀ + bias. Thread-compatible; parallelizes internally (parallel.hpp).
  virtual void forward(const float* x, int64_t m, float* y) const = 0;
  virtual size_t weight_bytes() const noexcept = 0;  // bytes of weight data read per forward
  virtual std::string describe() const = 0;          // e.g. "q4 g128 zp gemv=gemv_f32_q4g_avx512 gemm=..."
};

// backend: "" = registry's choice; otherwise a kernel name forced for both gemv and gemm
// (Error{unsupported_hardware} if unsupported on this CPU/shape).
std::unique_ptr<Linear> make_q4_linear(Q4Weights w, const std::string& backend = "");
// w: [n][k] F32/F16/BF16 (kept as a view: bf16 weights stay bf16 in memory).
// bias: empty or n values.
// forward with m <= fp_gemv_max_rows(dtype) (decode and batched decode: every step's lm_head)
// runs fp32 activations through a GEMV that reads the weights once for all rows, and each row's
// result is bitwise its m = 1 result (batch-invariant logits); larger m use oneDNN (bf16
// weights: x rounded to bf16). A forced exact backend ("avx512", "avx2", "ref") keeps the GEMV
// for every m. bf16 stops earlier because oneDNN's bf16 dot products (2 FLOPs per lane) beat the
// fp32 FMAs from m = 8 (README "Batched decode: the FP lm_head").
constexpr int64_t fp_gemv_max_rows(DType weights) { return weights == DType::BF16 ? 4 : 16; }
std::unique_ptr<Linear> make_fp_linear(TensorView w, std::vector<float> bias = {}, const std::string& backend = "");
// Several FP weights fused along n (fused QKV / gate-up on FP models); copies into one buffer
// keeping the dtype.
std::unique_ptr<Linear> make_fp_linear_fused(const std::vector<TensorView>& ws, std::vector<float> bias = {},
                                             const std::string& backend = "");

}  // namespace awqx

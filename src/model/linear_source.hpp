// One linear layer's weights as read from a checkpoint, before a Linear (kernel) is built:
// either an FP weight view (kept mapped) or unpacked int4 weights (AutoAWQ GEMM/GEMV layout →
// Q4Weights). Kept separate from the Linear so fusion can concatenate several of them first.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "awqx/config.hpp"
#include "awqx/linear.hpp"
#include "awqx/safetensors.hpp"

namespace awqx {

struct LinearSource {
  std::string name;  // tensor prefix, e.g. "model.layers.0.self_attn.q_proj"
  int64_t n = 0, k = 0;
  bool is_q4 = false;
  TensorView w;             // FP: [n][k]
  std::vector<float> bias;  // FP: empty or [n] (int4 keeps its bias in q4.bias)
  Q4Weights q4;
};

struct LinearLoader {
  const TensorStore& store;
  const ModelConfig& cfg;
  std::string backend;

  // Reads <prefix>.qweight/qzeros/scales (int4, when the config has a quantization_config and
  // the tensors exist) or <prefix>.weight (FP). Validates the shape against [n][k]; the bias
  // <prefix>.bias is required when has_bias, else optional-absent.
  // Throws Error{format|shape|dtype} naming the file and tensor.
  LinearSource read(const std::string& prefix, int64_t n, int64_t k, bool has_bias) const;
  std::unique_ptr<Linear> build(LinearSource&& src) const;
};

}  // namespace awqx

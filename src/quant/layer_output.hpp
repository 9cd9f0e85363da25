// What a finished layer turns into: its output tensors (int4 linears packed in the AutoAWQ
// layout, the rest fp16), the layer as those tensors mean it, and its report lines.
#pragma once
#include <array>
#include <functional>
#include <string>
#include <vector>

#include "awqx/quantize.hpp"
#include "awqx/tensor.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {

struct LayerNames {
  std::string prefix;  // "model.layers.<i>."
  std::string lin(int l) const { return prefix + kLinNames[l]; }
};

// The per-layer report: per searched group, the winning candidate and the block losses.
std::vector<QuantizeGroupReport> group_reports(const AwqLayerReport& r);

// t as fp16 named `name` (non-float tensors unchanged).
TensorView f16_copy(const TensorView& t, const std::string& name);

// The final tensors of one layer (quantized linears packed, the rest fp16).
std::vector<TensorView> layer_tensors(LayerWeights& lw, const LayerShape& s, const LayerNames& nm,
                                      const bool quantize[kNumLin], const QParams& qp, const std::string& version);

// The layer as its output tensors mean it (int4 linears dequantized, fp16 norms): what the
// quantized model computes, for --sequential-inputs. Built from the same tensors whether the
// layer was just quantized or read back from a resume file, so both runs stay byte-identical.
LayerWeights dequantized_layer(const std::function<const TensorView*(const std::string&)>& get, const LayerNames& nm,
                               const bool quantize[kNumLin], const QuantizeOptions& opt, const std::string& file);

}  // namespace awqx::quant

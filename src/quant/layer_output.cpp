// Output tensors of a finished layer (quant/layer_output.hpp).
#include "quant/layer_output.hpp"

#include <fmt/format.h>

#include "awqx/awq_format.hpp"
#include "awqx/error.hpp"
#include "awqx/safetensors.hpp"

namespace awqx::quant {

std::vector<QuantizeGroupReport> group_reports(const AwqLayerReport& r) {
  std::vector<QuantizeGroupReport> out;
  static const std::vector<std::vector<int>> lins = {{kV}, {kO}, {kGate, kUp}, {kDown}};
  static const char* const short_names[kNumLin] = {"q", "k", "v", "o", "gate", "up", "down"};
  for (int g = 0; g < kNumGroups; ++g) {
    QuantizeGroupReport gr;
    gr.group = kGroupNames[g];
    switch (r.choice[g]) {
      case ScaleChoice::kSkipped: gr.choice = "skipped"; break;
      case ScaleChoice::kRatio: gr.choice = fmt::format("ratio {}", r.best_ratio[g]); break;
      case ScaleChoice::kIdentity: gr.choice = "identity"; break;
      case ScaleChoice::kIdentityByCheck: gr.choice = "identity (check)"; break;
    }
    gr.rtn_fit = r.rtn_fit[g], gr.rtn_check = r.rtn_check[g], gr.fit = r.fit[g], gr.check = r.check[g];
    for (int l : lins[static_cast<size_t>(g)]) {
      if (!r.clip_groups[l]) continue;
      if (!gr.clip.empty()) gr.clip += ", ";
      gr.clip += fmt::format("{} {}/{}", short_names[l], r.clip_dropped[l] ? 0 : r.clip_kept[l], r.clip_groups[l]);
      if (r.clip_reverted[l]) gr.clip += fmt::format(" ({} reverted by check)", r.clip_reverted[l]);
      if (r.clip_dropped[l]) gr.clip += fmt::format(" (dropped by block check: {} would be clipped)", r.clip_kept[l]);
    }
    if (r.choice[g] != ScaleChoice::kSkipped || !gr.clip.empty()) out.push_back(std::move(gr));
  }
  return out;
}

TensorView f16_copy(const TensorView& t, const std::string& name) {
  if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16) {
    TensorView c = t;
    c.name = name;
    return c;
  }
  return make_f16_tensor(name, t.shape, to_f32(t));
}

std::vector<TensorView> layer_tensors(LayerWeights& lw, const LayerShape& s, const LayerNames& nm,
                                      const bool quantize[kNumLin], const QParams& qp, const std::string& version) {
  std::vector<TensorView> out;
  out.push_back(make_f16_tensor(nm.prefix + "input_layernorm.weight", {s.hidden}, lw.ln1));
  for (int l = 0; l < kNumLin; ++l) {
    if (l == kGate) out.push_back(make_f16_tensor(nm.prefix + "post_attention_layernorm.weight", {s.hidden}, lw.ln2));
    const int64_t n = s.out_features(l), k = s.in_features(l);
    if (!quantize[l]) {
      out.push_back(make_f16_tensor(nm.lin(l) + ".weight", {n, k}, lw.w[l]));
      if (!lw.b[l].empty()) out.push_back(make_f16_tensor(nm.lin(l) + ".bias", {n}, lw.b[l]));
      continue;
    }
    Q4Weights q;
    pseudo_quantize(lw.w[l].data(), n, k, qp, &q);
    q.bias = lw.b[l];
    AwqGemmTensors t = version == "gemv" ? awq_pack_gemv(q, nm.lin(l)) : awq_pack_gemm(q, nm.lin(l));
    out.push_back(t.qweight);
    out.push_back(t.qzeros);
    out.push_back(t.scales);
    if (t.bias) out.push_back(*t.bias);
  }
  return out;
}

LayerWeights dequantized_layer(const std::function<const TensorView*(const std::string&)>& get,
                                      const LayerNames& nm, const bool quantize[kNumLin], const QuantizeOptions& opt,
                                      const std::string& file) {
  auto need = [&](const std::string& n) -> const TensorView& {
    const TensorView* t = get(n);
    if (!t) throw Error::mismatch(ErrorCode::format, file, n, "a tensor of the quantized layer", "none");
    return *t;
  };
  LayerWeights lw;
  lw.ln1 = to_f32(need(nm.prefix + "input_layernorm.weight"));
  lw.ln2 = to_f32(need(nm.prefix + "post_attention_layernorm.weight"));
  for (int l = 0; l < kNumLin; ++l) {
    const std::string p = nm.lin(l);
    if (!quantize[l]) {
      lw.w[l] = to_f32(need(p + ".weight"));
      if (const TensorView* b = get(p + ".bias")) lw.b[l] = to_f32(*b);
      continue;
    }
    const Q4Weights q = (opt.version == "gemv" ? awq_unpack_gemv : awq_unpack_gemm)(
        need(p + ".qweight"), get(p + ".qzeros"), need(p + ".scales"), get(p + ".bias"), opt.q_group_size,
        opt.zero_point, file, p);
    lw.w[l] = q.dequantize();
    lw.b[l] = q.bias;
  }
  return lw;
}

}  // namespace awqx::quant

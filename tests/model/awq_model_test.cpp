// AutoAWQ int4 checkpoints through Model::load: a GEMM-format checkpoint made from tiny-llama-7m
// by round-to-nearest quantization (g128, zero point; one linear left FP as
// modules_to_not_convert would) must compute the same function as an FP checkpoint holding the
// dequantized weights, with fusion on and off.
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "awqx/awq_format.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/generate.hpp"
#include "awqx/half.hpp"
#include "awqx/model.hpp"
#include "awqx/safetensors.hpp"
#include "awqx/tokenizer.hpp"
#include "test_util.hpp"

namespace {

// Asymmetric RTN per group of 128 along k; scales rounded to fp16 first so the AWQ packer's
// fp16 scales reproduce exactly the weights dequantize() gives.
awqx::Q4Weights rtn(const std::vector<float>& w, int64_t n, int64_t k, int g) {
  awqx::Q4Weights q = awqx::Q4Weights::empty(n, k, g, true);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < k / g; ++j) {
      const float* x = w.data() + r * k + j * g;
      float mn = x[0], mx = x[0];
      for (int i = 0; i < g; ++i) mn = std::min(mn, x[i]), mx = std::max(mx, x[i]);
      float s = awqx::round_to_f16((mx - mn) / 15.0f);
      if (!(s > 0)) s = 1.0f;
      const int z = std::clamp(static_cast<int>(std::nearbyint(-mn / s)), 0, 15);
      q.scales[r * (k / g) + j] = s;
      q.zeros[r * (k / g) + j] = static_cast<uint8_t>(z);
      for (int i = 0; i < g; ++i)
        q.set_q(r, j * g + i, static_cast<uint8_t>(std::clamp(static_cast<int>(std::nearbyint(x[i] / s)) + z, 0, 15)));
    }
  return q;
}

struct Dirs {
  awqx_test::TempDir tmp;
  std::string fp, awq;
};

void make_checkpoints(Dirs& d) {
  const std::string src = awqx_test::shared_path("models/tiny-llama-7m");
  const awqx::TensorStore st = awqx::TensorStore::open_dir(src);
  nlohmann::json cfg = nlohmann::json::parse(awqx::read_file(src + "/config.json"));
  std::vector<awqx::TensorView> fp, awq;
  const std::string keep_fp = "model.layers.0.mlp.down_proj";
  for (const std::string& name : st.names()) {
    const awqx::TensorView t = st.get(name);
    const bool linear = name.find("_proj.weight") != std::string::npos;
    if (!linear) {
      fp.push_back(t);
      awq.push_back(t);
      continue;
    }
    const std::string prefix = name.substr(0, name.size() - 7);
    const awqx::Q4Weights q = rtn(awqx::to_f32(t), t.shape[0], t.shape[1], 128);
    const awqx::TensorView deq = awqx::make_f32_tensor(name, t.shape, q.dequantize());
    fp.push_back(deq);
    if (prefix == keep_fp) {
      awq.push_back(deq);
      continue;
    }
    awqx::AwqGemmTensors p = awqx::awq_pack_gemm(q, prefix);
    awq.push_back(p.qweight);
    awq.push_back(p.qzeros);
    awq.push_back(p.scales);
  }
  d.fp = d.tmp / "fp";
  d.awq = d.tmp / "awq";
  std::filesystem::create_directories(d.fp);
  std::filesystem::create_directories(d.awq);
  awqx::write_file_atomic(d.fp + "/config.json", cfg.dump());
  awqx::write_safetensors(d.fp + "/model.safetensors", fp);
  cfg["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4},          {"group_size", 128},
                                {"zero_point", true},    {"version", "gemm"}, {"modules_to_not_convert", {keep_fp}}};
  awqx::write_file_atomic(d.awq + "/config.json", cfg.dump());
  awqx::write_safetensors(d.awq + "/model.safetensors", awq);
}

TEST(AwqModel, Int4CheckpointMatchesDequantizedFp) {
  Dirs d;
  make_checkpoints(d);
  const auto tok = awqx::Tokenizer::load(awqx_test::shared_path("models/tiny-llama-7m"));
  const auto ids = tok->encode("Prince Andrew looked at the sky and thought of the battle that was coming.", true);
  auto fpm = awqx::Model::load(d.fp);
  auto q4m = awqx::Model::load(d.awq);
  EXPECT_NE(q4m->describe().find("q4"), std::string::npos) << q4m->describe();
  EXPECT_LT(q4m->weight_bytes() * 3, fpm->weight_bytes()) << "int4 linears must read far fewer bytes";
  const int64_t V = fpm->vocab_size(), n = static_cast<int64_t>(ids.size());
  std::vector<float> a(static_cast<size_t>(V)), b(static_cast<size_t>(V));
  double max_abs = 0, max_diff = 0;
  for (int64_t t = 0; t < n; ++t) {  // decode path (GEMV kernels)
    fpm->forward(&ids[t], 1, a.data(), false);
    q4m->forward(&ids[t], 1, b.data(), false);
    for (int64_t j = 0; j < V; ++j) {
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(a[j])));
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(a[j]) - b[j]));
    }
  }
  std::printf("[ awq ] int4 vs dequantized FP: max|dlogit| %.4g of max|logit| %.4g (rel %.3g)\n", max_diff, max_abs,
              max_diff / max_abs);
  // Same effective weights; the int4 kernels may quantize activations to int8 (VNNI: ~2^-8
  // relative per matmul input), compounded over 6 layers: a few 1e-3 of the logit range. A wrong
  // nibble order, zero or scale layout gives O(1) errors.
  EXPECT_LT(max_diff / max_abs, 1e-2);  // measured 2.8e-3
  // Fusion on/off: identical greedy output on the int4 model.
  awqx::LoadOptions nf;
  nf.fuse_layers = false;
  auto q4u = awqx::Model::load(d.awq, nf);
  awqx::SamplingOptions so;
  so.temperature = 0;
  std::vector<int32_t> g1, g2;
  awqx::generate(*q4m, *tok, ids, 40, so, [&](int32_t i) { return g1.push_back(i), true; });
  awqx::generate(*q4u, *tok, ids, 40, so, [&](int32_t i) { return g2.push_back(i), true; });
  EXPECT_EQ(g1, g2);
}

}  // namespace

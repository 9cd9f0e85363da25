// Load memory (issue 13): loading an int4 checkpoint must not hold the mapped checkpoint and its
// repacked copy at once. Before the fix a Llama-2-7B-shaped int4 model peaked at ~2x its resident
// size: every qweight page read through the mmap stayed resident after being repacked.
//
// The load runs in a fresh child process (this test binary re-executed with an environment
// variable), so VmHWM is the load's own peak, not that of earlier tests in this process.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "awqx/config.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/model.hpp"
#include "awqx/safetensors.hpp"
#include "test_util.hpp"

namespace {

constexpr const char* kChildEnv = "AWQX_LOAD_MEMORY_CHILD";

// A Llama-shaped AutoAWQ GEMM int4 checkpoint, random weights, one shard per layer:
// hidden 2048, intermediate 5632, 8 layers = 8 x 25.7 MB of int4 weights (~205 MB), a tiny
// vocab so the (FP, mapped, untouched at load) embedding and lm_head do not matter.
constexpr int kHidden = 2048, kInter = 5632, kLayers = 8, kHeads = 16, kVocab = 512, kGroup = 128;

awqx::TensorView random_i32(std::mt19937_64& rng, const std::string& name, int64_t rows, int64_t cols) {
  std::vector<uint8_t> b(static_cast<size_t>(rows * cols) * 4);
  for (size_t i = 0; i + 8 <= b.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(b.data() + i, &v, 8);
  }
  return awqx::make_tensor(name, awqx::DType::I32, {rows, cols}, std::move(b));
}

void add_linear(std::mt19937_64& rng, std::vector<awqx::TensorView>& ts, const std::string& prefix, int64_t n,
                int64_t k) {
  ts.push_back(random_i32(rng, prefix + ".qweight", k, n / 8));  // AutoAWQ GEMM: [k][n/8]
  ts.push_back(random_i32(rng, prefix + ".qzeros", k / kGroup, n / 8));
  std::uniform_real_distribution<float> u(0.001f, 0.01f);
  std::vector<float> s(static_cast<size_t>(k / kGroup * n));
  for (float& v : s) v = u(rng);
  ts.push_back(awqx::make_f16_tensor(prefix + ".scales", {k / kGroup, n}, s));
}

void write_checkpoint(const std::string& dir) {
  awqx::ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.hidden_size = kHidden;
  c.intermediate_size = kInter;
  c.num_hidden_layers = kLayers;
  c.num_attention_heads = kHeads;
  c.num_key_value_heads = kHeads;
  c.vocab_size = kVocab;
  c.max_position_embeddings = 256;
  c.torch_dtype = "float16";
  c.quant.present = true;
  c.quant.group_size = kGroup;
  std::mt19937_64 rng(13);
  std::vector<awqx::TensorView> ts;
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> emb(static_cast<size_t>(kVocab) * kHidden);
  for (float& v : emb) v = nd(rng);
  ts.push_back(awqx::make_bf16_tensor("model.embed_tokens.weight", {kVocab, kHidden}, emb));
  ts.push_back(awqx::make_bf16_tensor("lm_head.weight", {kVocab, kHidden}, emb));
  const std::vector<float> ones(kHidden, 1.0f);
  ts.push_back(awqx::make_f32_tensor("model.norm.weight", {kHidden}, ones));
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    ts.push_back(awqx::make_f32_tensor(p + "input_layernorm.weight", {kHidden}, ones));
    ts.push_back(awqx::make_f32_tensor(p + "post_attention_layernorm.weight", {kHidden}, ones));
    for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"})
      add_linear(rng, ts, p + m, kHidden, kHidden);
    add_linear(rng, ts, p + "mlp.gate_proj", kInter, kHidden);
    add_linear(rng, ts, p + "mlp.up_proj", kInter, kHidden);
    add_linear(rng, ts, p + "mlp.down_proj", kHidden, kInter);
  }
  std::filesystem::create_directories(dir);
  awqx::write_file_atomic(dir + "/config.json", c.to_json_text());
  awqx::write_safetensors_sharded(dir, ts, size_t{32} << 20);  // ~one layer per shard, like HF
}

struct Mem {
  size_t rss = 0, hwm = 0;  // bytes
};

Mem read_mem() {
  Mem m;
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    size_t kb = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %zu kB", &kb) == 1) m.rss = kb << 10;
    if (std::sscanf(line.c_str(), "VmHWM: %zu kB", &kb) == 1) m.hwm = kb << 10;
  }
  return m;
}

TEST(LoadMemory, Int4LoadPeaksWithin125PercentOfResident) {
  if (const char* dir = std::getenv(kChildEnv)) {  // the child: load, report, nothing else
    const Mem before = read_mem();
    awqx::LoadOptions lo;
    lo.max_seq_len = 64;
    auto model = awqx::Model::load(dir, lo);
    const Mem after = read_mem();
    std::printf("LOAD_MEMORY %zu %zu %zu %zu\n", before.rss, after.rss, after.hwm, model->weight_bytes());
    return;
  }
  awqx_test::TempDir tmp;
  const std::string dir = tmp / "int4";
  write_checkpoint(dir);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string out = awqx_test::run_ok(fmt::format("{}={} {} --gtest_filter=LoadMemory.* 2>&1", kChildEnv, dir,
                                                        self));
  const size_t at = out.find("LOAD_MEMORY ");
  ASSERT_NE(at, std::string::npos) << out;
  size_t base = 0, rss = 0, hwm = 0, weights = 0;
  ASSERT_EQ(std::sscanf(out.c_str() + at, "LOAD_MEMORY %zu %zu %zu %zu", &base, &rss, &hwm, &weights), 4) << out;
  // Slack for the runtime: the peak legitimately includes one linear in flight (the unpacked
  // fused gate/up, 2 x 5632 x 2048 nibbles = 11.5 MB, concatenated to another 11.5 MB, then
  // packed) on top of what is resident at the end; for this 8-layer model that is ~11% of the
  // weights and is what the 1.25 factor is for. The constant covers allocator slack (glibc
  // returns freed heap pages lazily, per-thread arenas of the loader's OpenMP workers): 16 MiB.
  // Without releasing the mapped qweight pages the peak is resident + the whole checkpoint
  // (~205 MB over ~270 MB resident here), far above the bound.
  const double mib = 1048576.0;
  const size_t slack = size_t{16} << 20;
  const std::string report =
      fmt::format("VmRSS before load {:.1f} MiB, after {:.1f} MiB, VmHWM {:.1f} MiB ({:.2f}x), int4 weights {:.1f} MiB",
                  base / mib, rss / mib, hwm / mib, double(hwm) / double(rss), weights / mib);
  std::printf("%s\n", report.c_str());
  EXPECT_GT(rss, base + weights / 2) << report;  // the weights really are resident after load
  EXPECT_LE(static_cast<double>(hwm), 1.25 * static_cast<double>(rss) + static_cast<double>(slack)) << report;
}

}  // namespace

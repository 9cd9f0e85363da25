// awqx make-model (synthetic folders of real shapes) and awqx bench: the folders load everywhere
// (config, tokenizer, Model, inspect), int4 kernels agree with the reference kernel on them, and
// bench reports what it promises. Shapes are "tiny" (2 layers, hidden 128) to keep this < 10 s.
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "awqx/bench_model.hpp"
#include "awqx/config.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/make_model.hpp"
#include "awqx/model.hpp"
#include "awqx/tokenizer.hpp"
#include "cli/cli_runner.hpp"
#include "test_util.hpp"

namespace {
using awqx_test::run_cli;

std::string make(const awqx_test::TempDir& tmp, const std::string& name, bool quantized, uint64_t seed = 0) {
  awqx::MakeModelOptions o;
  o.shape = "tiny";
  o.quantized = quantized;
  o.seed = seed;
  awqx::make_model(tmp / name, o);
  return tmp / name;
}

TEST(MakeModel, TinyFpAndInt4FoldersLoadEverywhere) {
  awqx_test::TempDir tmp;
  for (const bool q : {false, true}) {
    const std::string dir = make(tmp, q ? "q" : "fp", q);
    EXPECT_FALSE(std::filesystem::exists(dir + ".tmp"));
    const awqx::ModelConfig c = awqx::ModelConfig::load(dir);
    EXPECT_EQ(c.quant.present, q);
    EXPECT_EQ(c.num_key_value_heads * 2, c.num_attention_heads);  // GQA shape kept
    auto m = awqx::Model::load(dir);
    EXPECT_EQ(m->vocab_size(), c.vocab_size);
    EXPECT_NE(m->describe().find(q ? "q4" : "BF16"), std::string::npos) << m->describe();
    const auto tok = awqx::Tokenizer::load(dir);
    const auto ids = tok->encode("hi there", true);
    ASSERT_EQ(ids.size(), 9u);  // BOS + one id per byte
    std::vector<float> logits(static_cast<size_t>(m->vocab_size()));
    m->forward(ids.data(), static_cast<int64_t>(ids.size()), logits.data(), false);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    // Ids beyond the tokenizer's 258 are legal model ids; decoding them must not crash.
    EXPECT_NO_THROW(tok->decode({300, 1, 319}));
    const auto r = run_cli({"inspect", dir});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("hidden_size 128"), std::string::npos) << r.out;
  }
}

TEST(MakeModel, SeedDeterminesTheWeights) {
  awqx_test::TempDir tmp;
  const std::string shard = "model-00002-of-00004.safetensors";
  const std::string a = make(tmp, "a", true, 7), b = make(tmp, "b", true, 7), c = make(tmp, "c", true, 8);
  EXPECT_EQ(awqx::read_file(a + "/" + shard), awqx::read_file(b + "/" + shard));
  EXPECT_NE(awqx::read_file(a + "/" + shard), awqx::read_file(c + "/" + shard));
}

TEST(MakeModel, RealShapesHaveTheirPublishedDimensions) {
  const auto l2 = awqx::shape_config("llama2-7b");
  EXPECT_EQ(l2["intermediate_size"], 11008);
  EXPECT_EQ(l2["num_key_value_heads"], 32);
  const auto l3 = awqx::shape_config("llama3-8b", 3);
  EXPECT_EQ(l3["vocab_size"], 128256);
  EXPECT_EQ(l3["num_key_value_heads"], 8);
  EXPECT_EQ(l3["num_hidden_layers"], 3);
  const auto q2 = awqx::shape_config("qwen2-1.5b");
  EXPECT_EQ(q2["tie_word_embeddings"], true);
  EXPECT_EQ(q2["model_type"], "qwen2");
  for (const auto& s : awqx::model_shapes())
    EXPECT_NO_THROW(awqx::ModelConfig::parse(awqx::shape_config(s).dump(), s)) << s;
}

// The reference kernel (scalar, fp32) against other kernels on the same int4 weights, prefill
// (GEMM) and decode (GEMV) logits. Kernels with fp32 activations (avx2, avx512) differ only in
// summation order: 1e-4 of the logit range. The default choice may quantize activations to int8
// (VNNI): per matmul the rounding error is ~max|x|/(127·sqrt(12)) ≈ 0.7% of the rms of a Gaussian
// row of this width, compounded over two layers: 3e-2 (measured ~9e-3). A wrong nibble order,
// zero or scale gives O(1) errors.
double max_rel_logit_diff(const std::string& dir, const std::string& backend) {
  awqx::LoadOptions ref, other;
  ref.backend = "ref";
  other.backend = backend;
  auto a = awqx::Model::load(dir, ref);
  auto b = awqx::Model::load(dir, other);
  EXPECT_NE(a->describe().find("ref"), std::string::npos) << a->describe();
  const int64_t V = a->vocab_size(), n = 40;
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 37 + 5) % V);
  std::vector<float> la(static_cast<size_t>(n * V)), lb(la.size());
  a->forward(ids.data(), n, la.data(), true);
  b->forward(ids.data(), n, lb.data(), true);
  std::vector<float> da(static_cast<size_t>(V)), db(da.size());
  const int32_t next = 11;
  a->forward(&next, 1, da.data(), false);
  b->forward(&next, 1, db.data(), false);
  la.insert(la.end(), da.begin(), da.end());
  lb.insert(lb.end(), db.begin(), db.end());
  double max_abs = 0, max_diff = 0;
  for (size_t i = 0; i < la.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(double(la[i])));
    max_diff = std::max(max_diff, std::fabs(double(la[i]) - lb[i]));
  }
  std::printf("[ kernels ] ref vs %s: max|dlogit| %.3g of max|logit| %.3g\n", backend.empty() ? "default" : backend.c_str(),
              max_diff, max_abs);
  EXPECT_GT(max_abs, 0);
  return max_diff / max_abs;
}

TEST(MakeModel, KernelsAgreeWithTheReferenceOnLogits) {
  awqx_test::TempDir tmp;
  const std::string dir = make(tmp, "q", true, 3);
  EXPECT_LT(max_rel_logit_diff(dir, ""), 3e-2);
  for (const char* fp32_family : {"avx2", "avx512"}) {
    try {
      EXPECT_LT(max_rel_logit_diff(dir, fp32_family), 1e-4) << fp32_family;
    } catch (const awqx::Error& e) {  // not on this CPU
      EXPECT_EQ(e.code(), awqx::ErrorCode::unsupported_hardware) << e.what();
    }
  }
}

TEST(MakeModel, BenchWritesJsonWithEveryField) {
  awqx_test::TempDir tmp;
  const std::string dir = make(tmp, "q", true);
  const auto r = run_cli({"bench", "--model", dir, "--prompt-tokens", "16", "--gen-tokens", "4", "--repeats", "2",
                          "--warmup", "1", "--threads", "1", "--json", tmp / "b.json"},
                         "AWQX_BENCH_CACHE_MB=16");  // small bandwidth probe (VMs report huge L3s)
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("% of bound"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(awqx::read_file(tmp / "b.json"));
  for (const char* k : {"prefill_tok_s", "decode_tok_s"}) {
    EXPECT_GT(j[k]["median"].get<double>(), 0) << k;
    EXPECT_LE(j[k]["min"].get<double>(), j[k]["median"].get<double>()) << k;
    EXPECT_LE(j[k]["median"].get<double>(), j[k]["max"].get<double>()) << k;
  }
  EXPECT_EQ(j["decode_tok_s_runs"].size(), 2u);
  EXPECT_EQ(j["weights"], "int4 g128");
  EXPECT_EQ(j["threads"], 1);
  auto m = awqx::Model::load(dir);
  EXPECT_EQ(j["weight_bytes_per_token"].get<size_t>(), m->weight_bytes());
  EXPECT_GT(j["read_bandwidth_gbs"].get<double>(), 0);
  // KV bytes: 2 (K, V) · layers · kv_dim · element bytes · mean decode context (prompt + (gen + 1) / 2).
  ASSERT_EQ(j["kv_type"], "f16");  // the default
  EXPECT_EQ(j["step_tokens"], 20);  // the default 512, capped at the run's prompt + gen tokens
  const double es = 2;
  const auto& c = m->config();
  const double kv_dim = double(c.num_key_value_heads) * double(c.head_dim);
  const double mean_ctx = j["prompt_tokens"].get<double>() + (j["gen_tokens"].get<double>() + 1) / 2;
  EXPECT_NEAR(j["kv_bytes_per_token"].get<double>(), 2 * c.num_hidden_layers * kv_dim * es * mean_ctx, 1.0);
  EXPECT_EQ(j["bytes_per_token"].get<size_t>(),
            j["weight_bytes_per_token"].get<size_t>() + j["kv_bytes_per_token"].get<size_t>());
  EXPECT_NEAR(j["bound_tok_s"].get<double>(),
              j["read_bandwidth_gbs"].get<double>() * 1e9 / j["bytes_per_token"].get<double>(), 1e-6 * j["bound_tok_s"].get<double>());
  EXPECT_NEAR(j["decode_pct_of_bound"].get<double>(),
              100 * j["decode_tok_s"]["median"].get<double>() / j["bound_tok_s"].get<double>(), 1e-6);
  EXPECT_GT(j["rss_bytes"].get<size_t>(), 0u);
}

// --batch N: the engine's batched decode step measured beside batch 1, reported per repeat.
TEST(MakeModel, BenchBatchReportsBatchedDecode) {
  awqx_test::TempDir tmp;
  const std::string dir = make(tmp, "q", true);
  const auto r = run_cli({"bench", "--model", dir, "--prompt-tokens", "9", "--gen-tokens", "5", "--repeats", "3",
                          "--warmup", "0", "--threads", "1", "--batch", "3", "--json", tmp / "b.json"},
                         "AWQX_BENCH_CACHE_MB=16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("batch 3 "), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(awqx::read_file(tmp / "b.json"));
  EXPECT_EQ(j["batch"], 3);
  ASSERT_EQ(j["batch_decode_tok_s_runs"].size(), 3u);
  std::vector<double> runs = j["batch_decode_tok_s_runs"].get<std::vector<double>>();
  std::sort(runs.begin(), runs.end());
  EXPECT_GT(runs[0], 0);
  EXPECT_EQ(j["batch_decode_tok_s"]["median"].get<double>(), runs[1]);
  EXPECT_EQ(j["batch_decode_tok_s"]["min"].get<double>(), runs[0]);
  EXPECT_NEAR(j["batch_vs_single"].get<double>(), runs[1] / j["decode_tok_s"]["median"].get<double>(), 1e-9);
  // Without --batch the fields say so.
  const auto one = awqx::bench_model(dir, [] {
    awqx::BenchOptions o;
    o.prompt_tokens = 4, o.gen_tokens = 2, o.repeats = 1, o.warmup = 0;
    return o;
  }());
  EXPECT_TRUE(one.batch_decode_tok_s.empty());
  EXPECT_EQ(one.batch_vs_single, 0);
  EXPECT_EQ(one.summary().find("batch "), std::string::npos);
}

TEST(MakeModel, BadFlagsAreOneLineErrors) {
  awqx_test::TempDir tmp;
  using awqx_test::expect_clean_error;
  expect_clean_error(run_cli({"make-model", "--shape", "gpt2", "--out", tmp / "x"}), "--shape");
  expect_clean_error(run_cli({"make-model", "--shape", "tiny", "--quantized", "--group-size", "96", "--out", tmp / "x"}),
                     "--group-size");
  EXPECT_FALSE(std::filesystem::exists(tmp / "x"));
  ASSERT_EQ(run_cli({"make-model", "--shape", "tiny", "--out", tmp / "x"}).exit_code, 0);
  expect_clean_error(run_cli({"make-model", "--shape", "tiny", "--out", tmp / "x"}), "--out");
  expect_clean_error(run_cli({"bench", "--model", tmp / "nope"}), "nope");
  expect_clean_error(run_cli({"bench", "--model", tmp / "x", "--repeats", "0"}), "--repeats");
  ASSERT_EQ(run_cli({"make-model", "--shape", "tiny", "--quantized", "--out", tmp / "q"}).exit_code, 0);
  expect_clean_error(run_cli({"bench", "--model", tmp / "q", "--backend", "nosuchkernel"}), "nosuchkernel");
  expect_clean_error(run_cli({"bench", "--model", tmp / "q", "--threads", "-1"}), "--threads");
  expect_clean_error(run_cli({"bench", "--model", tmp / "q", "--batch", "0"}), "--batch");
  // A step holds one token per sequence: more sequences than the step size are refused.
  expect_clean_error(run_cli({"bench", "--model", tmp / "q", "--batch", "9", "--step-tokens", "8"}), "--batch");
  EXPECT_THROW(awqx::bench_model(tmp / "x", [] {
                 awqx::BenchOptions o;
                 o.gen_tokens = 0;
                 return o;
               }()),
               awqx::Error);
}

}  // namespace

// config.json / quantization_config parsing against real HF configs and hand-written variants.
#include <gtest/gtest.h>

#include "awqx/config.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "io/config_json.hpp"
#include "test_util.hpp"

using awqx::ErrorCode;
using awqx::ModelConfig;
using awqx::QuantConfig;
using awqx::quant_config_from_json;
using awqx::to_json;

namespace {
using awqx_test::expect_error;
const char* kLlama = R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
  "num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,"eos_token_id":2})";
}  // namespace

TEST(Config, TinyLlamaReal) {
  // Values read off ../shared/models/tiny-llama-7m/config.json by eye.
  auto c = ModelConfig::load(awqx_test::shared_path("models/tiny-llama-7m"));
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.intermediate_size, 768);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.vocab_size, 4096);
  EXPECT_EQ(c.max_position_embeddings, 256);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_FALSE(c.quant.present);
  EXPECT_EQ(c.rope_scaling.type, "");
}

TEST(Config, MistralReal) {
  const std::string p = awqx_test::shared_path("models/tokenizers/mistral-7b-instruct-v0.3/config.json");
  auto c = ModelConfig::parse(awqx::read_file(p), p);
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 32768);
  EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
  EXPECT_EQ(c.sliding_window, 0);  // null in the file
  EXPECT_EQ(c.max_position_embeddings, 32768);
}

TEST(Config, Qwen2BiasTiedAndEosList) {
  auto c = ModelConfig::parse(R"({"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":896,
    "intermediate_size":4864,"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,
    "vocab_size":151936,"rope_theta":1000000.0,"rms_norm_eps":1e-06,"tie_word_embeddings":true,
    "sliding_window":32768,"bos_token_id":151643,"eos_token_id":[151645,151643],"torch_dtype":"bfloat16"})",
                              "qwen.json");
  EXPECT_TRUE(c.attention_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{151645, 151643}));
  EXPECT_EQ(c.sliding_window, 32768);
}

TEST(Config, Llama3RopeScaling) {
  auto c = ModelConfig::parse(R"({"architectures":["LlamaForCausalLM"],"hidden_size":2048,"intermediate_size":8192,
    "num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":64,"vocab_size":128256,
    "rope_theta":500000.0,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
    "original_max_position_embeddings":8192,"rope_type":"llama3"},"eos_token_id":[128001,128008,128009]})",
                              "l3.json");
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 32.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.high_freq_factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  // The older spelling "type" is accepted too.
  auto j = nlohmann::json::parse(kLlama);
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_EQ(ModelConfig::parse(j.dump(), "x").rope_scaling.type, "linear");
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 2.0}};
  expect_error([&] { ModelConfig::parse(j.dump(), "x"); }, ErrorCode::unsupported_model, "yarn");
}

TEST(Config, ModelTypeFallbackAndDefaults) {
  auto c = ModelConfig::parse(R"({"model_type":"mistral","hidden_size":64,"intermediate_size":128,
    "num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100})",
                              "x");
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
}

TEST(Config, UnknownArchitecture) {
  auto j = nlohmann::json::parse(kLlama);
  j["architectures"] = {"GPT2LMHeadModel"};
  expect_error([&] { ModelConfig::parse(j.dump(), "dir/config.json"); }, ErrorCode::unsupported_model,
               "dir/config.json: 'architectures'");
  j.erase("architectures");
  j["model_type"] = "gpt2";
  expect_error([&] { ModelConfig::parse(j.dump(), "c.json"); }, ErrorCode::unsupported_model, "gpt2");
}

TEST(Config, WrongTypesAndValues) {
  auto j = nlohmann::json::parse(kLlama);
  auto bad = [&](const char* key, nlohmann::json v) {
    auto k = j;
    k[key] = v;
    expect_error([&] { ModelConfig::parse(k.dump(), "c.json"); }, ErrorCode::format, key);
  };
  bad("hidden_size", "64");
  bad("hidden_size", 64.5);
  bad("hidden_size", -64);
  bad("num_attention_heads", 0);
  bad("num_key_value_heads", 3);  // does not divide 4 heads
  bad("rms_norm_eps", "x");
  bad("tie_word_embeddings", 1);
  bad("eos_token_id", nlohmann::json::array({1, "x"}));
  bad("vocab_size", 1e20);
  bad("num_hidden_layers", 99999999999ll);
  expect_error([] { ModelConfig::parse("{not json", "c.json"); }, ErrorCode::format, "valid JSON");
  expect_error([] { ModelConfig::parse("[]", "c.json"); }, ErrorCode::format, "JSON object");
  expect_error([] { ModelConfig::parse(R"({"architectures":["LlamaForCausalLM"]})", "c.json"); }, ErrorCode::format,
               "hidden_size");
}

TEST(Config, GenerationConfigEosWins) {
  awqx_test::TempDir tmp;
  awqx::write_file_atomic(tmp / "config.json", kLlama);
  awqx::write_file_atomic(tmp / "generation_config.json", R"({"bos_token_id":1,"eos_token_id":[2,7]})");
  auto c = ModelConfig::load(tmp.path());
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{2, 7}));
  EXPECT_EQ(c.bos_token_id, 1);
  expect_error([&] { ModelConfig::load(tmp / "nodir"); }, ErrorCode::io, "config.json");
}

TEST(QuantConfigTest, AutoAwqKeys) {
  auto q = quant_config_from_json(nlohmann::json::parse(R"({"quant_method":"awq","w_bit":4,"q_group_size":64,
    "zero_point":true,"version":"GEMM","modules_to_not_convert":["visual"]})"),
                                  "c.json");
  EXPECT_TRUE(q.present);
  EXPECT_EQ(q.group_size, 64);
  EXPECT_EQ(q.version, "gemm");
  EXPECT_EQ(q.modules_to_not_convert, std::vector<std::string>{"visual"});
  auto j = to_json(q);
  EXPECT_EQ(j["bits"], 4);
  EXPECT_EQ(j["group_size"], 64);
  EXPECT_EQ(j["quant_method"], "awq");
  auto q2 = quant_config_from_json(nlohmann::json::parse(R"({"quant_method":"awq","bits":4,"group_size":128,
    "zero_point":false,"version":"gemv","modules_to_not_convert":null})"),
                                   "c.json");
  EXPECT_FALSE(q2.zero_point);
  EXPECT_TRUE(q2.modules_to_not_convert.empty());
  EXPECT_TRUE(to_json(q2)["modules_to_not_convert"].is_null());
  // Embedded in config.json.
  auto c = nlohmann::json::parse(kLlama);
  c["quantization_config"] = to_json(q);
  EXPECT_EQ(ModelConfig::parse(c.dump(), "c.json").quant.group_size, 64);
}

TEST(QuantConfigTest, Rejections) {
  auto bad = [](const char* text, ErrorCode code, const char* needle) {
    expect_error([&] { quant_config_from_json(nlohmann::json::parse(text), "c.json"); }, code, needle);
  };
  bad(R"({"quant_method":"gptq","bits":4})", ErrorCode::unsupported_model, "quant_method");
  bad(R"({"quant_method":"awq","bits":8})", ErrorCode::unsupported_model, "bits");
  bad(R"({"quant_method":"awq","bits":4,"group_size":0})", ErrorCode::format, "group_size");
  bad(R"({"quant_method":"awq","bits":4,"group_size":-2})", ErrorCode::format, "group_size");
  bad(R"({"quant_method":"awq","bits":4,"version":"marlin"})", ErrorCode::unsupported_model, "version");
  bad(R"({"quant_method":"awq","modules_to_not_convert":"lm_head"})", ErrorCode::format, "modules_to_not_convert");
  bad(R"({"quant_method":"awq","zero_point":"yes"})", ErrorCode::format, "zero_point");
  bad(R"([1])", ErrorCode::format, "quantization_config");
}

TEST(Config, FloatOutOfRange) {
  auto j = nlohmann::json::parse(kLlama);
  j["rope_theta"] = 1e300;  // would be UB to narrow to float
  expect_error([&] { ModelConfig::parse(j.dump(), "c.json"); }, ErrorCode::format, "rope_theta");
}

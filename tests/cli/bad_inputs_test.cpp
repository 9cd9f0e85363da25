// Issue 7's contract, end to end through the CLI: every bad input gives a non-zero exit, no
// crash, one error line naming the file or field, and leaves the inputs unchanged.
#include <filesystem>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "awqx/fileutil.hpp"
#include "awqx/safetensors.hpp"
#include "cli/bad_input_util.hpp"

using namespace awqx_test;
namespace fs = std::filesystem;

namespace {

const char* kConfig = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8,
 "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
 "vocab_size": 16, "rms_norm_eps": 1e-5})";

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A small valid model folder, which each test then damages in one way.
void write_model(const TempDir& d, const std::string& config = kConfig) {
  awqx::write_file_atomic(d / "config.json", config);
  std::vector<float> emb(16 * 8, 0.5f);
  awqx::write_safetensors(d / "model.safetensors",
                          {awqx::make_f32_tensor("model.embed_tokens.weight", {16, 8}, emb)});
}

CliResult inspect_and_check_unchanged(const TempDir& d) {
  std::map<std::string, std::string> before;
  for (const auto& e : fs::directory_iterator(d.path())) before[e.path().string()] = slurp(e.path().string());
  CliResult r = run_cli({"inspect", d.path()});
  std::map<std::string, std::string> after;
  for (const auto& e : fs::directory_iterator(d.path())) after[e.path().string()] = slurp(e.path().string());
  EXPECT_EQ(before, after) << "inspect changed its input folder";
  return r;
}

}  // namespace

TEST(CliBadInputs, ValidModelInspects) {
  TempDir d;
  write_model(d);
  const CliResult r = run_cli({"inspect", d.path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("model.embed_tokens.weight"), std::string::npos) << r.out;
}

TEST(CliBadInputs, MissingFolder) {
  const CliResult r = run_cli({"inspect", "/nonexistent/awqx-model"});
  expect_one_line_error(r, {"/nonexistent/awqx-model"});
}

TEST(CliBadInputs, TruncatedShard) {
  TempDir d;
  write_model(d);
  const std::string bytes = slurp(d / "model.safetensors");
  std::ofstream(d / "model.safetensors", std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size() - 9);
  expect_one_line_error(inspect_and_check_unchanged(d), {"model.safetensors"});
}

TEST(CliBadInputs, HeaderLengthLargerThanFile) {
  TempDir d;
  write_model(d);
  std::string bytes = slurp(d / "model.safetensors");
  const uint64_t huge = 1ull << 40;
  std::memcpy(bytes.data(), &huge, 8);
  std::ofstream(d / "model.safetensors", std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  expect_one_line_error(inspect_and_check_unchanged(d), {"model.safetensors"});
}

TEST(CliBadInputs, OffsetsOutOfRange) {
  TempDir d;
  write_model(d);
  std::string bytes = slurp(d / "model.safetensors");
  // Same-length edit of the header: the end offset 512 (= 16*8*4) becomes 912, past the data.
  const size_t at = bytes.find("512]");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = '9';
  std::ofstream(d / "model.safetensors", std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  expect_one_line_error(inspect_and_check_unchanged(d), {"model.embed_tokens.weight"});
}

TEST(CliBadInputs, DtypeDoesNotMatchBytes) {
  TempDir d;
  write_model(d);
  std::string bytes = slurp(d / "model.safetensors");
  const size_t at = bytes.find("\"F32\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "\"F16\"");  // 16*8 F16 = 256 bytes, but the span is 512
  std::ofstream(d / "model.safetensors", std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  expect_one_line_error(inspect_and_check_unchanged(d), {"model.embed_tokens.weight"});
}

TEST(CliBadInputs, IndexNamesMissingShard) {
  TempDir d;
  write_model(d);
  awqx::write_file_atomic(d / "model.safetensors.index.json",
                          R"({"metadata": {"total_size": 512}, "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"}})");
  expect_one_line_error(inspect_and_check_unchanged(d), {"model-00001-of-00002.safetensors"});
}

TEST(CliBadInputs, UnknownArchitecture) {
  TempDir d;
  write_model(d, R"({"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 8})");
  expect_one_line_error(inspect_and_check_unchanged(d), {"config.json"});
}

TEST(CliBadInputs, BadFlagValue) {
  const CliResult r = run_cli({"kernels", "--no-such-flag"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

// End to end: quantize ../shared/models/tiny-llama-7m (few calibration samples, to stay fast),
// load the result with awqx's Model and check it computes a finite, close-to-FP perplexity;
// kill -9 in the middle of `awqx quantize` and re-run gives byte-identical output; bad inputs
// give typed one-line errors before any work.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/model.hpp"
#include "awqx/quantize.hpp"
#include "awqx/safetensors.hpp"
#include "awqx/tokenizer.hpp"
#include "model/ops.hpp"
#include "test_util.hpp"

namespace {
namespace fs = std::filesystem;

awqx::QuantizeOptions fast_opts() {
  awqx::QuantizeOptions o;
  o.calib_files = {awqx_test::shared_path("data/wikitext2-valid.txt")};
  o.max_calib_samples = 16;
  o.max_calib_seq_len = 128;
  return o;
}

// Mean next-token NLL over the first `windows` 128-token windows of the test text.
double ppl(const std::string& dir, int windows) {
  auto m = awqx::Model::load(dir);
  auto tok = awqx::Tokenizer::load(dir);
  const std::string text = awqx::read_file(awqx_test::shared_path("data/wikitext2-test.txt"));
  const auto ids = tok->encode(text.substr(0, 60000), true);
  const int64_t ctx = 128, v = m->vocab_size();
  std::vector<float> logits(static_cast<size_t>(ctx * v));
  double nll = 0;
  int64_t cnt = 0;
  for (int w = 0; w < windows && (w + 1) * ctx <= static_cast<int64_t>(ids.size()); ++w) {
    m->reset();
    m->forward(ids.data() + w * ctx, ctx, logits.data(), true);
    for (int64_t i = 0; i + 1 < ctx; ++i, ++cnt) nll -= awqx::ops::log_prob(logits.data() + i * v, v, ids[w * ctx + i + 1]);
  }
  return std::exp(nll / cnt);
}

TEST(QuantizeE2E, TinyLlamaAwqLoadsAndPerplexityIsCloseToFp) {
  awqx_test::TempDir tmp;
  const std::string model = awqx_test::shared_path("models/tiny-llama-7m");
  const auto rep = awqx::quantize_model(model, tmp / "awq", fast_opts());
  EXPECT_EQ(rep.n_layers, 6);
  EXPECT_EQ(rep.calib_tokens % 128, 0);
  EXPECT_GT(rep.peak_rss_bytes, 0u);
  EXPECT_FALSE(fs::exists(tmp / "awq.tmp"));
  const std::string cfg = awqx::read_file(tmp / "awq/config.json");
  EXPECT_NE(cfg.find("\"quant_method\": \"awq\""), std::string::npos);
  EXPECT_NE(cfg.find("\"torch_dtype\": \"float16\""), std::string::npos);
  auto st = awqx::SafetensorsFile::open(tmp / "awq/model.safetensors");
  EXPECT_EQ(st->get("model.layers.0.mlp.down_proj.qweight").shape, (std::vector<int64_t>{768, 32}));
  EXPECT_EQ(st->get("model.layers.0.mlp.down_proj.scales").dtype, awqx::DType::F16);
  EXPECT_EQ(st->get("lm_head.weight").dtype, awqx::DType::F16);
  EXPECT_FALSE(st->has("model.layers.0.mlp.down_proj.weight"));
  const double fp = ppl(model, 6), q = ppl(tmp / "awq", 6);
  ASSERT_TRUE(std::isfinite(q));
  // int4 g128 on this model costs well under 5% ppl (measured ~0.2%); 5% catches broken
  // packing/scales (those give ppl in the hundreds or thousands).
  EXPECT_LT(q, fp * 1.05) << "fp " << fp << " awq " << q;
}

int run_cli(const std::vector<std::string>& args, pid_t* child_out = nullptr) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string bin = awqx_test::cli_path();
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int fd = ::open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  if (child_out) {
    *child_out = pid;
    return 0;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(QuantizeE2E, KillNineThenRerunIsByteIdentical) {
  awqx_test::TempDir tmp;
  const std::string model = awqx_test::shared_path("models/tiny-llama-7m");
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"quantize", "--model", model, "--out", out, "--calib",
                                    awqx_test::shared_path("data/wikitext2-valid.txt"), "--max-calib-samples", "16",
                                    "--max-calib-seq-len", "128", "--threads", "2"};
  };
  ASSERT_EQ(run_cli(args(tmp / "ref")), 0);
  pid_t pid = 0;
  run_cli(args(tmp / "out"), &pid);
  const std::string first = tmp / "out.tmp/.awqx-resume/layer-0.safetensors";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(first) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(fs::exists(first));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before the kill; the test proves nothing";
  EXPECT_FALSE(fs::exists(tmp / "out"));
  ASSERT_EQ(run_cli(args(tmp / "out")), 0);
  for (const auto& e : fs::directory_iterator(tmp / "ref")) {
    const std::string name = e.path().filename().string();
    std::string ref = awqx::read_file(tmp / ("ref/" + name));
    if (name == "README.md") {  // the model card quotes the command, whose --out differs
      const std::string from = tmp / "ref", to = tmp / "out";
      for (size_t p = ref.find(from); p != std::string::npos; p = ref.find(from, p + to.size()))
        ref.replace(p, from.size(), to);
    }
    EXPECT_EQ(ref, awqx::read_file(tmp / ("out/" + name))) << name;
  }
  EXPECT_FALSE(fs::exists(tmp / "out.tmp"));
}

template <class F>
awqx::Error expect_error(F&& f, awqx::ErrorCode code) {
  try {
    f();
  } catch (const awqx::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    return e;
  }
  ADD_FAILURE() << "no error";
  return awqx::Error(awqx::ErrorCode::internal, "", "", "");
}

TEST(QuantizeE2E, BadInputsGiveClearErrorsBeforeWork) {
  awqx_test::TempDir tmp;
  const std::string model = awqx_test::shared_path("models/tiny-llama-7m");
  auto o = fast_opts();
  {
    std::ofstream(tmp / "empty.txt") << "\n  \n\n";
    o.calib_files = {tmp / "empty.txt"};
    auto e = expect_error([&] { awqx::quantize_model(model, tmp / "o1", o); }, awqx::ErrorCode::format);
    EXPECT_NE(std::string(e.what()).find("non-empty sample"), std::string::npos) << e.what();
  }
  {
    std::ofstream(tmp / "latin1.txt") << "caf\xe9 au lait\n";
    o.calib_files = {tmp / "latin1.txt"};
    auto e = expect_error([&] { awqx::quantize_model(model, tmp / "o2", o); }, awqx::ErrorCode::format);
    EXPECT_NE(std::string(e.what()).find("offset 3"), std::string::npos) << e.what();
  }
  {
    auto g = fast_opts();
    g.q_group_size = 96;  // K = 256 / 768: not divisible
    auto e = expect_error([&] { awqx::quantize_model(model, tmp / "o3", g); }, awqx::ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("--group-size"), std::string::npos) << e.what();
    EXPECT_FALSE(fs::exists(tmp / "o3.tmp")) << "no work before the check";
  }
  {
    fs::create_directories(tmp / "exists");
    expect_error([&] { awqx::quantize_model(model, tmp / "exists", fast_opts()); }, awqx::ErrorCode::invalid_argument);
  }
  {
    std::ofstream(tmp / "afile") << "x";  // output below a regular file: not creatable (even as root)
    auto r = fast_opts();
    r.method = "rtn";
    expect_error([&] { awqx::quantize_model(model, tmp / "afile/out", r); }, awqx::ErrorCode::io);
  }
  {
    auto p = fast_opts();
    p.calib_files = {"pileval"};
    p.calib_dir = tmp / "nowhere";
    expect_error([&] { awqx::quantize_model(model, tmp / "o5", p); }, awqx::ErrorCode::io);
  }
  // CLI: one line on stderr and the error's exit code.
  EXPECT_EQ(run_cli({"quantize", "--model", model, "--out", tmp / "o6", "--group-size", "96", "--calib-text", "x"}),
            awqx::Error(awqx::ErrorCode::invalid_argument, "", "", "").exit_code());
}

TEST(QuantizeE2E, RtnGemvSymmetricAndExcludedModulesLoad) {
  awqx_test::TempDir tmp;
  const std::string model = awqx_test::shared_path("models/tiny-llama-7m");
  auto o = fast_opts();
  o.method = "rtn";
  o.version = "gemv";
  o.zero_point = false;
  o.q_group_size = 64;
  o.modules_to_not_convert = {"layers.0.*down_proj"};
  o.shard_size = 4000000;
  awqx::quantize_model(model, tmp / "r", o);
  EXPECT_TRUE(fs::exists(tmp / "r/model.safetensors.index.json"));
  auto store = awqx::TensorStore::open_dir(tmp / "r");
  EXPECT_TRUE(store.has("model.layers.0.mlp.down_proj.weight"));
  EXPECT_TRUE(store.has("model.layers.1.mlp.down_proj.qweight"));
  const double q = ppl(tmp / "r", 2);
  EXPECT_TRUE(std::isfinite(q) && q < 200) << q;
}

}  // namespace

// llama2.c import: converted checkpoints must greedy-decode exactly the ids produced by
// Karpathy's run.c / model.py (../shared/models/*/greedy*.ids: BOS then N greedy steps).
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "awqx/convert.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/generate.hpp"
#include "awqx/model.hpp"
#include "awqx/parallel.hpp"
#include "awqx/tokenizer.hpp"
#include "test_util.hpp"

namespace {

std::vector<int32_t> read_ids(const std::string& path) {
  std::ifstream f(path);
  std::vector<int32_t> ids;
  for (int32_t x; f >> x;) ids.push_back(x);
  return ids;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// run.c semantics: start from BOS, take the argmax each step, stop when BOS comes back.
std::vector<int32_t> greedy_run_c(awqx::Model& model, size_t steps) {
  std::vector<int32_t> out = {1};
  std::vector<float> logits(static_cast<size_t>(model.vocab_size()));
  model.reset();
  while (out.size() < steps + 1) {
    model.forward(&out.back(), 1, logits.data(), false);
    const int32_t next = awqx::argmax(logits.data(), model.vocab_size());
    if (next == 1) break;
    out.push_back(next);
  }
  return out;
}

struct Case {
  const char* dir;
  const char* bin;
  const char* tok;
  const char* ids;
  const char* txt;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.dir; }

// These models are tiny (dim 64..128): one thread, so ctest -j2 on 2 cores does not turn
// OpenMP spin-waits into seconds of contention.
class Llama2cGreedy : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { awqx::set_num_threads(1); }
  void TearDown() override { awqx::set_num_threads(0); }
};

TEST_P(Llama2cGreedy, ReproducesReferenceIds) {
  const Case c = GetParam();
  const std::string base = std::string("models/") + c.dir + "/";
  const std::vector<int32_t> expected = read_ids(awqx_test::shared_path(base + c.ids));
  ASSERT_GT(expected.size(), 100u);
  awqx_test::TempDir tmp;
  const std::string out = tmp / "hf";
  awqx::convert_llama2c(awqx_test::shared_path(base + c.bin), awqx_test::shared_path(base + c.tok), out);
  for (const bool fuse : {true, false}) {
    awqx::LoadOptions lo;
    lo.fuse_layers = fuse;
    auto model = awqx::Model::load(out, lo);
    const std::vector<int32_t> got = greedy_run_c(*model, expected.size() - 1);
    ASSERT_EQ(got.size(), expected.size()) << c.dir << " fuse=" << fuse;
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], expected[i]) << c.dir << " fuse=" << fuse << " step " << i;
  }
  // The converted tokenizer decodes them to the reference text.
  const auto tok = awqx::Tokenizer::load(out);
  EXPECT_EQ(tok->decode(expected), slurp(awqx_test::shared_path(base + c.txt))) << c.dir;
}

INSTANTIATE_TEST_SUITE_P(
    SharedModels, Llama2cGreedy,
    ::testing::Values(Case{"stories260K", "stories260K.bin", "tok512.bin", "greedy200.ids", "greedy200.txt"},
                      Case{"aidreams260K", "aidreams260K.bin", "tok512.bin", "greedy128.ids", "greedy128.txt"},
                      Case{"babyllama-tok105", "model5000.bin", "tok105.model", "greedy200.ids", "greedy200.txt"}),
    [](const ::testing::TestParamInfo<Case>& i) {
      std::string n = i.param.dir;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(Llama2cConvert, HeaderIsValidatedAgainstFileSize) {
  const std::string src = awqx_test::shared_path("models/stories260K/stories260K.bin");
  const awqx::Llama2cHeader h = awqx::read_llama2c_header(src);
  EXPECT_EQ(h.dim, 64);
  EXPECT_EQ(h.n_layers, 5);
  EXPECT_EQ(h.n_kv_heads, 4);
  EXPECT_TRUE(h.shared_classifier);
  awqx_test::TempDir tmp;
  // Truncated copy: the error names the file and says which size was expected.
  const std::string data = slurp(src);
  const std::string cut = tmp / "cut.bin";
  std::ofstream(cut, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size() - 4));
  try {
    awqx::convert_llama2c(cut, awqx_test::shared_path("models/stories260K/tok512.bin"), tmp / "out");
    FAIL() << "truncated checkpoint accepted";
  } catch (const awqx::Error& e) {
    EXPECT_EQ(e.code(), awqx::ErrorCode::format);
    EXPECT_NE(std::string(e.what()).find("cut.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(data.size())), std::string::npos) << e.what();
  }
  EXPECT_FALSE(awqx::file_exists(tmp / "out/config.json"));
  // A header with a zero field names it.
  std::string bad = data;
  const int32_t zero = 0;
  std::memcpy(bad.data() + 12, &zero, 4);  // n_heads
  std::ofstream(tmp / "bad.bin", std::ios::binary).write(bad.data(), static_cast<std::streamsize>(bad.size()));
  try {
    awqx::read_llama2c_header(tmp / "bad.bin");
    FAIL() << "n_heads = 0 accepted";
  } catch (const awqx::Error& e) {
    EXPECT_EQ(e.field(), "n_heads") << e.what();
  }
}

TEST(Llama2cConvert, RefusesExistingOutput) {
  awqx_test::TempDir tmp;
  EXPECT_THROW(awqx::convert_llama2c(awqx_test::shared_path("models/stories260K/stories260K.bin"),
                                     awqx_test::shared_path("models/stories260K/tok512.bin"), tmp.path()),
               awqx::Error);
}

}  // namespace

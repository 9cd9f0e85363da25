// The generate / ppl / convert verbs end to end through the built binary.
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_runner.hpp"

namespace {

using awqx_test::run_cli;

std::string last_line(const std::string& s) {
  std::istringstream is(s);
  std::string l, last;
  while (std::getline(is, l))
    if (!l.empty()) last = l;
  return last;
}

TEST(CliModel, PplPrintsValueLastAndWritesJson) {
  awqx_test::TempDir tmp;
  const auto r = run_cli({"ppl", "--model", awqx_test::shared_path("models/tiny-llama-7m"), "--data",
                          awqx_test::shared_path("data/wikitext2-test.txt"), "--ctx", "128", "--max-windows", "3",
                          "--json", tmp / "ppl.json", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string last = last_line(r.out);
  ASSERT_EQ(last.rfind("ppl = ", 0), 0u) << r.out;
  const double ppl = std::stod(last.substr(6));
  EXPECT_GT(ppl, 10.0);
  EXPECT_LT(ppl, 300.0);
  EXPECT_TRUE(r.err.empty()) << "progress must stay off when stderr is not a TTY: " << r.err;
  std::ifstream f(tmp / "ppl.json");
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j.at("windows").get<int64_t>(), 3);
  EXPECT_EQ(j.at("predictions").get<int64_t>(), 3 * 127);
  EXPECT_NEAR(j.at("ppl").get<double>(), ppl, 1e-3 * ppl);
}

TEST(CliModel, GreedyGenerateIsDeterministicAndStreamsText) {
  const std::vector<std::string> args = {"generate", "--model", awqx_test::shared_path("models/tiny-llama-7m"),
                                         "--prompt", "The king said", "--temperature", "0", "--max-new-tokens", "24"};
  const auto a = run_cli(args);
  const auto b = run_cli(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("The king said", 0), 0u) << a.out;
  EXPECT_GT(a.out.size(), std::string("The king said").size() + 20) << a.out;
  EXPECT_NE(a.err.find("tok/s"), std::string::npos) << a.err;
  auto nf = args;
  nf.push_back("--no-fuse");
  const auto c = run_cli(nf);
  EXPECT_EQ(c.out, a.out);
}

TEST(CliModel, ConvertThenGenerate) {
  awqx_test::TempDir tmp;
  const std::string out = tmp / "stories";
  const auto r = run_cli({"convert", "--llama2c", awqx_test::shared_path("models/stories260K/stories260K.bin"),
                          "--tokenizer", awqx_test::shared_path("models/stories260K/tok512.bin"), "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto g = run_cli({"generate", "--model", out, "--prompt", "Once upon a time", "--temperature", "0",
                          "--max-new-tokens", "30"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(g.out.rfind("Once upon a time", 0), 0u) << g.out;
  // Second convert into the same folder: refused, one clean error line naming it.
  const auto again = run_cli({"convert", "--llama2c", awqx_test::shared_path("models/stories260K/stories260K.bin"),
                              "--tokenizer", awqx_test::shared_path("models/stories260K/tok512.bin"), "--out", out});
  awqx_test::expect_clean_error(again, out);
}

TEST(CliModel, BadInputsAreCleanErrors) {
  awqx_test::TempDir tmp;
  std::ofstream(tmp / "x.txt") << "Some text to score.";  // the data is read (and checked) first
  awqx_test::expect_clean_error(run_cli({"ppl", "--model", tmp / "nope", "--data", tmp / "x.txt"}), "nope");
  awqx_test::expect_clean_error(run_cli({"ppl", "--model", tmp / "nope", "--data", tmp / "missing.txt"}),
                                "missing.txt");
  awqx_test::expect_clean_error(
      run_cli({"generate", "--model", awqx_test::shared_path("models/tiny-llama-7m"), "--prompt",
               "a prompt that is longer than four tokens", "--max-seq-len", "4"}),
      "--max-seq-len");
  std::ofstream(tmp / "junk.bin") << "not a checkpoint";
  awqx_test::expect_clean_error(run_cli({"convert", "--llama2c", tmp / "junk.bin", "--tokenizer", tmp / "junk.bin",
                                         "--out", tmp / "o"}),
                                "junk.bin");
}

}  // namespace

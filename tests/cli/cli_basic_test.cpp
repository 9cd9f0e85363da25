#include <nlohmann/json.hpp>

#include "awqx/fileutil.hpp"
#include "awqx/version.hpp"
#include "cli/cli_runner.hpp"

using namespace awqx_test;

TEST(Cli, NoVerbIsAnErrorNotACrash) {
  const CliResult r = run_cli({});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
}

TEST(Cli, UnknownVerbNamesIt) {
  const CliResult r = run_cli({"frobnicate"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << r.err;
}

TEST(Cli, VersionPrints) {
  const CliResult r = run_cli({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  // The one version (CMakeLists.txt project(VERSION), generated awqx/version.hpp).
  EXPECT_EQ(r.out, std::string("awqx ") + awqx::version() + "\n");
}

// --step-tokens changes how a prompt is cut into forward steps, never the tokens: a 3-token
// step (a 40-token prompt in 14 steps) and the default (one step) give the same greedy text.
// It reaches the model (bench reports the step it ran with), and a bad value is a one-line
// error naming the flag. Numeric flags say "must be >= 0", not CLI11's float limits.
TEST(Cli, StepTokensChangeStepsNotTokens) {
  const std::string model = shared_path("models/tiny-llama-7m");
  const std::string prompt =
      "The little dog ran to the park because it wanted to play with the ball that the girl had thrown "
      "across the green grass near the old tree";
  std::vector<std::string> args = {"generate", "--model", model, "--prompt", prompt, "--max-new-tokens", "16",
                                   "--temperature", "0", "--threads", "2"};
  const CliResult whole = run_cli(args);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  args.insert(args.end(), {"--step-tokens", "3"});
  const CliResult steps = run_cli(args);
  ASSERT_EQ(steps.exit_code, 0) << steps.err;
  EXPECT_EQ(steps.out, whole.out);
  EXPECT_GT(whole.out.size(), prompt.size() / 4) << whole.out;

  TempDir tmp;
  const CliResult b = run_cli({"bench", "--model", model, "--prompt-tokens", "16", "--gen-tokens", "2", "--repeats", "1",
                               "--warmup", "0", "--threads", "1", "--step-tokens", "5", "--json", tmp / "b.json"},
                              "AWQX_BENCH_CACHE_MB=16");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(awqx::read_file(tmp / "b.json"))["step_tokens"], 5);
  EXPECT_NE(b.out.find("steps of 5"), std::string::npos) << b.out;

  const CliResult bad = run_cli({"generate", "--model", model, "--prompt", "x", "--step-tokens", "-1"});
  expect_clean_error(bad, "--step-tokens");
  EXPECT_EQ(bad.err_lines().size(), 1u) << bad.err;
  EXPECT_NE(bad.err.find("must be >= 0, got -1"), std::string::npos) << bad.err;
}

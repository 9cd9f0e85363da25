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

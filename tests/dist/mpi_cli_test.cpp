// `mpirun -np N awqx quantize|ppl` (issue 15): the checkpoint and the perplexity are the same
// bytes for N = 1, 2, 3 (3: uneven block splits) and any thread count, also with the
// validation and sequential-input paths; a rank killed mid-layer stops every rank, leaves only
// the resume folder, and the rerun on another N finishes with the same bytes. Runs
// `mpirun --oversubscribe` on loopback. In a build without MPI (the sanitizer tree) only the
// "not built" message is checked; the in-process tests of the split search run everywhere
// (tests/quant/distributed_search_test.cpp).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "awqx/fileutil.hpp"
#include "cli/cli_runner.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using awqx_test::CliResult;
using awqx_test::TempDir;

namespace {

#if AWQX_CLI_HAS_MPI
// Root may run mpirun only when it says so (CI containers run as root).
const char* const kMpiEnv = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader";

std::vector<std::string> mpirun(int n, std::vector<std::string> args) {
  std::vector<std::string> cmd = {"--oversubscribe", "-np", std::to_string(n), awqx_test::cli_path()};
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

CliResult run_mpi(int n, const std::vector<std::string>& args) {
  std::string cmd = std::string(kMpiEnv) + " " + AWQX_MPIEXEC;
  for (const auto& a : mpirun(n, args)) cmd += " " + awqx_test::shell_quote(a);
  TempDir tmp;
  cmd += " >" + awqx_test::shell_quote(tmp / "out") + " 2>" + awqx_test::shell_quote(tmp / "err") + " </dev/null";
  const int st = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = awqx::read_file(tmp / "out");
  r.err = awqx::read_file(tmp / "err");
  return r;
}

std::vector<std::string> quantize_args(const std::string& out, std::vector<std::string> extra = {},
                                       const std::string& samples = "20") {
  std::vector<std::string> a = {"quantize", "--model", awqx_test::shared_path("models/tiny-llama-7m"), "--out", out,
                                "--calib", awqx_test::shared_path("data/wikitext2-valid.txt"), "--max-calib-samples",
                                samples, "--max-calib-seq-len", "64"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// Every file of ref equals the one in out; the model card quotes the command, whose --out and
// --threads differ, so its "command" lines are left out.
void expect_same_folder(const std::string& ref, const std::string& out) {
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(ref)) {
    const std::string name = e.path().filename().string();
    ASSERT_TRUE(fs::exists(out + "/" + name)) << name;
    auto body = [&](const std::string& dir) {
      std::string s = awqx::read_file(dir + "/" + name), kept;
      if (name != "README.md") return s;
      std::istringstream is(s);
      for (std::string l; std::getline(is, l);)
        if (l.find("awqx quantize") == std::string::npos) kept += l + "\n";
      return kept;
    };
    EXPECT_TRUE(body(ref) == body(out)) << name << " differs between " << ref << " and " << out;
    ++files;
  }
  EXPECT_GE(files, 4u);
  EXPECT_EQ(files, static_cast<size_t>(std::distance(fs::directory_iterator(out), fs::directory_iterator{})));
}

TEST(MpiQuantize, ByteIdenticalForAnyRankCountAndSamePpl) {
  TempDir tmp;
  // N = 1 without mpirun (2 threads), then 2 ranks of 1 thread, 3 ranks (20 blocks: 6/7/7).
  const CliResult one = awqx_test::run_cli(quantize_args(tmp / "n1", {"--threads", "2"}));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  for (int n : {2, 3}) {
    const std::string out = tmp / ("n" + std::to_string(n));
    const CliResult r = run_mpi(n, quantize_args(out, {"--threads", "1"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("rank 0 of " + std::to_string(n)), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("quantized"), r.out.rfind("quantized")) << "only rank 0 reports: " << r.out;
    expect_same_folder(tmp / "n1", out);
  }
  // Perplexity: windows split over the ranks, the NLL sum is the same double.
  auto ppl = [&](int n, const std::string& json) {
    const std::vector<std::string> a = {"ppl", "--model", tmp / "n1", "--data",
                                        awqx_test::shared_path("data/wikitext2-test.txt"), "--ctx", "128",
                                        "--max-windows", "11", "--json", json};
    const CliResult r = n == 1 ? awqx_test::run_cli(a) : run_mpi(n, a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = awqx::read_file(json);
    return j.substr(j.find("\"nll_sum\""), 40);
  };
  const std::string p1 = ppl(1, tmp / "p1.json");
  EXPECT_EQ(p1, ppl(2, tmp / "p2.json"));
  EXPECT_EQ(p1, ppl(3, tmp / "p3.json"));
}

TEST(MpiQuantize, ValidateAndSequentialPathsByteIdentical) {
  TempDir tmp;
  const std::vector<std::string> extra = {"--validate", "--sequential-inputs", "--search-precision", "fp32",
                                          "--group-size", "64"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), extra.begin(), extra.end());
    return more;
  };
  // Oversubscribed ranks with several spinning OpenMP threads each crawl: one thread per rank.
  ASSERT_EQ(awqx_test::run_cli(quantize_args(tmp / "n1", with({"--threads", "2"}))).exit_code, 0);
  const CliResult r = run_mpi(3, quantize_args(tmp / "n3", with({"--threads", "1"})));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_folder(tmp / "n1", tmp / "n3");
}

// The ranks mpirun started (its children), by rank.
pid_t rank_pid(pid_t launcher, int rank) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream st(e.path() / "stat");
    std::string line;
    std::getline(st, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream is(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    is >> state >> ppid;
    if (ppid != launcher) continue;
    const std::string env = awqx::read_file((e.path() / "environ").string());
    if (env.find("OMPI_COMM_WORLD_RANK=" + std::to_string(rank) + '\0') != std::string::npos) return std::stoi(name);
  }
  return 0;
}

TEST(MpiQuantize, KilledRankStopsAllAndRerunOnOtherNIsIdentical) {
  TempDir tmp;
  const std::vector<std::string> more = {"--threads", "1"};
  auto args = [&](const std::string& out) { return quantize_args(out, more, "64"); };
  ASSERT_EQ(run_mpi(2, args(tmp / "ref")).exit_code, 0);
  const std::string err_path = tmp / "err";
  const pid_t launcher = fork();
  if (launcher == 0) {
    for (const char* kv : {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OMPI_MCA_btl=self,vader"})
      putenv(const_cast<char*>(kv));
    freopen("/dev/null", "w", stdout);
    freopen(err_path.c_str(), "w", stderr);
    std::vector<std::string> a = mpirun(2, args(tmp / "out"));
    a.insert(a.begin(), AWQX_MPIEXEC);
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(AWQX_MPIEXEC, argv.data());
    _exit(127);
  }
  const std::string first = tmp / "out.tmp/.awqx-resume/layer-0.safetensors";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (!fs::exists(first) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(fs::exists(first));
  const pid_t victim = rank_pid(launcher, 1);
  ASSERT_GT(victim, 0) << "rank 1 not found among mpirun's children";
  kill(victim, SIGKILL);
  int status = 0;
  waitpid(launcher, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0) << "a run that lost a rank must fail";
  EXPECT_NE(awqx::read_file(err_path).find("rank 1"), std::string::npos) << awqx::read_file(err_path);
  EXPECT_FALSE(fs::exists(tmp / "out"));
  for (const auto& e : fs::directory_iterator(tmp / "out.tmp"))
    EXPECT_EQ(e.path().filename(), ".awqx-resume") << "left behind: " << e.path();
  // Rerun on 3 ranks: resumes the finished layers, same bytes.
  const CliResult r = run_mpi(3, args(tmp / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("(0 resumed)"), std::string::npos) << r.out;
  expect_same_folder(tmp / "ref", tmp / "out");
  EXPECT_FALSE(fs::exists(tmp / "out.tmp"));
}

TEST(MpiQuantize, RankWithoutBlocksAndBadInputReportedOnce) {
  TempDir tmp;
  // 1 or 2 calibration blocks on 3 ranks: a rank holds none and must still agree on every choice.
  const std::vector<std::string> few = {"--max-calib-samples", "3", "--max-calib-seq-len", "16"};
  auto args = [&](const std::string& out) {
    std::vector<std::string> a = {"quantize", "--model", awqx_test::shared_path("models/tiny-llama-7m"), "--out", out,
                                  "--calib", awqx_test::shared_path("data/wikitext2-valid.txt"), "--threads", "1"};
    a.insert(a.end(), few.begin(), few.end());
    return a;
  };
  const CliResult one = awqx_test::run_cli(args(tmp / "n1"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_TRUE(one.out.find("in 1 blocks") != std::string::npos || one.out.find("in 2 blocks") != std::string::npos)
      << one.out;
  ASSERT_EQ(run_mpi(3, args(tmp / "n3")).exit_code, 0);
  expect_same_folder(tmp / "n1", tmp / "n3");
  // The same bad input on every rank: one awqx line naming the field, every rank ends, no output.
  std::vector<std::string> bad = args(tmp / "bad");
  bad.insert(bad.end(), {"--group-size", "96"});
  const CliResult r = run_mpi(3, bad);
  EXPECT_NE(r.exit_code, 0);
  size_t lines = 0;
  for (const auto& l : r.err_lines())
    if (l.rfind("awqx: error", 0) == 0) {
      ++lines;
      EXPECT_NE(l.find("--group-size"), std::string::npos) << l;
    }
  EXPECT_EQ(lines, 1u) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "bad"));
  EXPECT_FALSE(fs::exists(tmp / "bad.tmp"));
}

TEST(MpiCli, OtherVerbsRefuseSeveralRanks) {
  const CliResult r = run_mpi(2, {"kernels"});
  EXPECT_EQ(r.exit_code, 2);
  const auto lines = r.err_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("only `awqx quantize` and `awqx ppl`"), std::string::npos) << r.err;
}
#else
TEST(MpiQuantize, SkippedWithoutMpi) { GTEST_SKIP() << "awqx built without MPI (AWQX_MPI=OFF): mpirun tests skipped"; }

TEST(MpiCli, NotBuiltMessageUnderLauncher) {
  // What mpirun -np 2 puts in each rank's environment; no launcher needed to see the refusal.
  const CliResult r = awqx_test::run_cli({"kernels"}, "OMPI_COMM_WORLD_SIZE=2");
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("built without MPI support"), std::string::npos) << r.err;
}
#endif

}  // namespace

// `awqx bench-kernels` end to end on tiny shapes (fast): JSON and CSV are complete and consistent,
// every supported kernel whose op fits m appears, and bad flags fail with one line naming the flag.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "awqx/cpu.hpp"
#include "awqx/kernels.hpp"
#include "cli/cli_runner.hpp"

namespace {

using awqx_test::run_cli;

// 16 MiB of "cache": cold copies and the bandwidth buffer stay small, so the test is quick even
// where the CPU reports a huge L3 (VMs report the host's total).
const std::string kEnv = "AWQX_BENCH_CACHE_MB=16";

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(BenchKernelsCli, TinyShapesWriteJsonAndCsv) {
  awqx_test::TempDir dir;
  const auto r = run_cli({"bench-kernels", "--k", "256", "--n", "256", "--m", "1,4", "--repeats", "2", "--threads",
                          "1", "--json", dir / "k.json", "--csv", dir / "k.csv"},
                         kEnv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("best int4 kernel per m"), std::string::npos) << r.out;

  const auto j = nlohmann::json::parse(slurp(dir / "k.json"));
  EXPECT_GT(j["roofline"]["read_bw_gbs"].get<double>(), 0);
  EXPECT_GT(j["roofline"]["fma_gflops"].get<double>(), 0);
  std::set<std::string> ok_names;
  for (const auto& row : j["results"]) {
    EXPECT_EQ(row["k"].get<int64_t>(), 256);
    if (row["status"] != "ok") continue;
    ok_names.insert(row["kernel"].get<std::string>() + "/" + std::to_string(row["m"].get<int64_t>()));
    EXPECT_GT(row["median_ms"].get<double>(), 0) << row.dump();
    EXPECT_GT(row["gflops"].get<double>(), 0) << row.dump();
    EXPECT_GT(row["pct_roof"].get<double>(), 0) << row.dump();
    EXPECT_EQ(row["runs"].get<int>(), 2) << row.dump();
  }
  // Every kernel supported here appears at each m its op fits; gemv never at m = 4.
  for (const auto& e : awqx::kernels::registry().entries())
    for (int64_t m : {1, 4}) {
      const bool fits = e.op == awqx::kernels::Op::both || (m == 1) == (e.op == awqx::kernels::Op::gemv);
      const bool sup = awqx::kernels::why_unsupported(e, awqx::cpu_info(), {m, 256, 256, 128, true}).empty();
      EXPECT_EQ(ok_names.count(std::string(e.name) + "/" + std::to_string(m)), fits && sup ? 1u : 0u) << e.name << " m=" << m;
    }
  // oneDNN's bf16 matmul needs AVX-512 (bf16 rows are skipped with a reason elsewhere).
  EXPECT_EQ(ok_names.count("onednn_bf16_matmul/4") + ok_names.count("onednn_f32_matmul/4"),
            awqx::cpu_info().has(awqx::Isa::avx512) ? 2u : 1u);
  ASSERT_EQ(j["best"].size(), 2u);

  const std::string csv = slurp(dir / "k.csv");
  std::istringstream is(csv);
  std::string header;
  std::getline(is, header);
  for (const char* col : {"kernel", "shape", "m", "n", "k", "median_ms", "gbs", "gflops", "pct_bw", "pct_roof"})
    EXPECT_NE(("," + header + ",").find(std::string(",") + col + ","), std::string::npos) << col;
  size_t rows = 0;
  for (std::string line; std::getline(is, line);) ++rows;
  EXPECT_EQ(rows, j["results"].size());
}

TEST(BenchKernelsCli, GroupSizeMustDivideK) {
  const auto r = run_cli({"bench-kernels", "--k", "256", "--n", "256", "--group-size", "96"}, kEnv);
  awqx_test::expect_clean_error(r, "--group-size");
  EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
}

TEST(BenchKernelsCli, UnknownKernelNamed) {
  const auto r = run_cli({"bench-kernels", "--k", "256", "--n", "256", "--kernels", "gemv_f32_q4g_sse9"}, kEnv);
  awqx_test::expect_clean_error(r, "gemv_f32_q4g_sse9");
  EXPECT_NE(r.err.find("--kernels"), std::string::npos) << r.err;
}

TEST(BenchKernelsCli, FamilySelectionAndNoBaselines) {
  awqx_test::TempDir dir;
  const auto r = run_cli({"bench-kernels", "--k", "256", "--n", "128", "--m", "1", "--repeats", "1", "--kernels", "ref",
                          "--no-baselines", "--csv", dir / "k.csv"},
                         kEnv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string csv = slurp(dir / "k.csv");
  EXPECT_NE(csv.find("gemv_f32_q4g_ref,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("onednn"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("avx2"), std::string::npos) << csv;
}

}  // namespace

namespace {

TEST(BenchKernelsCli, PlotWithoutGnuplotFailsUpFront) {
  awqx_test::TempDir dir;
  const auto r = run_cli({"bench-kernels", "--k", "256", "--n", "256", "--plot", dir / "k.png"},
                         kEnv + " PATH=/nonexistent-awqx-dir");
  awqx_test::expect_clean_error(r, "gnuplot");
  EXPECT_FALSE(std::ifstream(dir / "k.png").good());
}

}  // namespace

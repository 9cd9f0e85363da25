// `awqx kernels` end to end: lists every entry, and AWQX_ISA caps what select() picks
// (so each ISA path can be forced on one machine); AWQX_KERNEL forces an entry.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "awqx/cpu.hpp"
#include "awqx/kernels.hpp"
#include "test_util.hpp"

namespace {

std::string run(const std::string& env) {
  const std::string cmd = env + " " + awqx_test::cli_path() + " kernels 2>&1";
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[512];
  while (fgets(buf, sizeof buf, f)) out += buf;
  pclose(f);
  return out;
}

std::string picked(const std::string& out, const std::string& m) {
  const std::string key = "select(m=" + m + ", k=n=4096, g128, zp): ";
  const auto p = out.find(key);
  if (p == std::string::npos) return "";
  return out.substr(p + key.size(), out.find('\n', p) - p - key.size());
}

TEST(KernelsCli, ListsEveryEntryAndPicks) {
  const std::string out = run("");
  for (const auto& e : awqx::kernels::registry().entries()) EXPECT_NE(out.find(e.name), std::string::npos) << e.name;
  EXPECT_FALSE(picked(out, "1").empty()) << out;
  EXPECT_FALSE(picked(out, "512").empty()) << out;
}

TEST(KernelsCli, IsaCapChangesTheChoice) {
  for (const char* cap : {"ref", "avx2", "avx512", "avx512vnni", "amx"}) {
    awqx::Isa level;
    ASSERT_TRUE(awqx::parse_isa(cap, level));
    if (level > awqx::cpu_info().hw_isa) continue;  // cannot exercise above the hardware
    const std::string out = run(std::string("AWQX_ISA=") + cap);
    for (const char* m : {"1", "512"}) {
      const auto* e = awqx::kernels::registry().find(picked(out, m));
      ASSERT_NE(e, nullptr) << out;
      EXPECT_LE(static_cast<int>(e->isa), static_cast<int>(level)) << cap << " m=" << m << ": " << e->name;
    }
    // The best level's own family is picked for decode (it has a gemv entry at every level but
    // amx, whose tiles only pay off from a few rows on: decode stays on VNNI there).
    if (level != awqx::Isa::ref) {
      EXPECT_EQ(std::string(awqx::kernels::registry().find(picked(out, "1"))->family),
                level == awqx::Isa::amx ? "avx512vnni" : cap);
    }
  }
  const std::string bad = run("AWQX_ISA=sse9");
  EXPECT_NE(bad.find("AWQX_ISA"), std::string::npos) << bad;
}

TEST(KernelsCli, ForcedKernel) {
  const std::string out = run("AWQX_KERNEL=gemv_f32_q4g_ref");
  EXPECT_EQ(picked(out, "1"), "gemv_f32_q4g_ref");
  EXPECT_EQ(picked(out, "512"), "gemv_f32_q4g_ref");
  const std::string bad = run("AWQX_KERNEL=nope");
  EXPECT_NE(bad.find("nope"), std::string::npos) << bad;
}

}  // namespace

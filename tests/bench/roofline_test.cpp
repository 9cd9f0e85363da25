// Roofline probes: plausible, positive numbers (not exact values: they depend on the machine).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "awqx/cpu.hpp"
#include "awqx/roofline.hpp"

namespace {

TEST(BenchRoofline, ReadBandwidthPlausible) {
  // 256 MiB: beyond any per-socket L3 a test machine has, and fast to touch (the default size is
  // 4× the reported L3, which a VM may report as the host's total).
  const double bw = awqx::measure_read_bandwidth_gbs(size_t(256) << 20);
  EXPECT_GT(bw, 0.5);    // any machine streams more than 0.5 GB/s
  EXPECT_LT(bw, 5000.);  // and less than 5 TB/s from DRAM: larger means the buffer sat in cache
}

TEST(BenchRoofline, PeakFmaPlausible) {
  const double g = awqx::measure_peak_fma_gflops();
  EXPECT_GT(g, 1.0);
  EXPECT_LT(g, 1e5);
}

TEST(BenchRoofline, PeakVnniZeroOnlyWithoutVnni) {
  const double g = awqx::measure_peak_vnni_gops();
  if (awqx::cpu_info().has(awqx::Isa::avx512vnni)) {
    // vpdpbusd does 64 MACs per instruction vs 16 FMAs: never slower than the fp32 FMA peak.
    EXPECT_GT(g, 0.5 * awqx::measure_peak_fma_gflops());
  } else {
    EXPECT_EQ(g, 0.0);
  }
}

TEST(BenchRoofline, RooflineIsMinOfBandwidthAndPeak) {
  EXPECT_DOUBLE_EQ(awqx::roofline_gflops(1.0, 20.0, 100.0), 20.0);
  EXPECT_DOUBLE_EQ(awqx::roofline_gflops(100.0, 20.0, 100.0), 100.0);
}

TEST(BenchRoofline, ColdCopiesCoverFourL3) {
  const size_t bytes = 1 << 20;
  const size_t n = awqx::cold_copies(bytes);
  EXPECT_GE(n, 1u);
  const double l3 = double(awqx::bench_cache_bytes());
  if (!std::getenv("AWQX_BENCH_HOT")) {
    EXPECT_GE(double(n * bytes), 4.0 * l3);
  }
}

}  // namespace

TEST(BenchRoofline, CacheEnvOverridesL3) {
  const char* old = std::getenv("AWQX_BENCH_CACHE_MB");
  const std::string saved = old ? old : "";
  setenv("AWQX_BENCH_CACHE_MB", "8", 1);
  const int64_t c = awqx::bench_cache_bytes();
  unsetenv("AWQX_BENCH_CACHE_MB");
  const size_t probe = awqx::read_probe_bytes(c);
  EXPECT_EQ(c, int64_t{8} << 20);
  EXPECT_GE(awqx::bench_cache_bytes(), int64_t{32} << 20);
  EXPECT_EQ(probe, size_t{64} << 20);  // 4 × 8 MiB is below the 64 MiB floor
  if (old) setenv("AWQX_BENCH_CACHE_MB", saved.c_str(), 1);
}

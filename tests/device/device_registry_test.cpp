// Device registry: cpu always listed and available; cuda listed only in CUDA builds; forcing an
// unknown device is an error naming it; `awqx devices` lists cpu and exits 0.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "awqx/device.hpp"
#include "awqx/error.hpp"
#include "cli/cli_runner.hpp"

#ifdef AWQX_HAVE_CUDA
#include "awqx/cuda_gemv.hpp"
#include "awqx/linear.hpp"
#endif

namespace {

TEST(DeviceRegistry, ListsCpu) {
  const auto* cpu = awqx::device::registry().find("cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_TRUE(cpu->available());
  EXPECT_FALSE(cpu->describe().empty());
  const bool has_cuda = awqx::device::registry().find("CUDA") != nullptr;
#ifdef AWQX_HAVE_CUDA
  EXPECT_TRUE(has_cuda);
#else
  EXPECT_FALSE(has_cuda);
  EXPECT_STREQ(awqx::device::select_device().name, "cpu");
#endif
}

TEST(DeviceRegistry, ForcedDevice) {
  EXPECT_STREQ(awqx::device::select_device("cpu").name, "cpu");
  try {
    awqx::device::select_device("tpu9");
    FAIL() << "no error for an unknown device";
  } catch (const awqx::Error& e) {
    EXPECT_EQ(e.code(), awqx::ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("tpu9"), std::string::npos) << e.what();
  }
}

TEST(DeviceRegistry, DevicesVerb) {
  const auto r = awqx_test::run_cli({"devices"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("cpu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("default device:"), std::string::npos) << r.out;
}

#ifdef AWQX_HAVE_CUDA
// Only meaningful on a machine with a GPU; compiled in CUDA builds, skipped without a device.
TEST(DeviceRegistry, CudaGemvMatchesDequant) {
  if (!awqx::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t n = 77, k = 512;
  awqx::Q4Weights w = awqx::Q4Weights::empty(n, k, 128, true);
  for (size_t i = 0; i < w.qdata.size(); ++i) w.qdata[i] = static_cast<uint8_t>(i * 37 + 11);
  for (size_t i = 0; i < w.scales.size(); ++i) w.scales[i] = 0.01f * float(1 + i % 7), w.zeros[i] = uint8_t(i % 16);
  std::vector<float> x(k), y(n);
  for (int64_t i = 0; i < k; ++i) x[i] = float((i * 13) % 17) / 17.f - 0.5f;
  awqx::cuda::Q4Gemv g(n, k, 128, w.qdata.data(), w.scales.data(), w.zeros.data());
  g.run(x.data(), y.data());
  const auto d = w.dequantize();
  for (int64_t r = 0; r < n; ++r) {
    double ref = 0;
    for (int64_t c = 0; c < k; ++c) ref += double(d[r * k + c]) * x[c];
    EXPECT_NEAR(y[r], ref, 1e-3 * (1 + std::abs(ref))) << r;
  }
}
#endif

}  // namespace

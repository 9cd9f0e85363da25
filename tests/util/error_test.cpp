#include <gtest/gtest.h>

#include "awqx/error.hpp"
#include "awqx/half.hpp"

using namespace awqx;

TEST(Error, RendersOneLineWithFileAndField) {
  Error e = Error::mismatch(ErrorCode::shape, "model.safetensors", "layers.0.q.qweight", "[4, 2]", "[4,\n3]");
  std::string s = e.what();
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_NE(s.find("model.safetensors"), std::string::npos);
  EXPECT_NE(s.find("layers.0.q.qweight"), std::string::npos);
  EXPECT_EQ(e.code(), ErrorCode::shape);
  EXPECT_GT(e.exit_code(), 1);
}

TEST(Error, CheckMacroThrowsInternal) {
  try {
    AWQX_CHECK(1 + 1 == 3);
    FAIL() << "AWQX_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::internal);
  }
}

// fp16 conversion against values fixed by IEEE-754 binary16 itself (not by our code).
TEST(Half, F16KnownEncodings) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_f16(5.9604645e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);  // tie -> even
  EXPECT_EQ(f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);  // tie -> even (up)
  EXPECT_FLOAT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_FLOAT_EQ(f16_to_f32(0x0001), 5.9604645e-08f);
}

// Every fp16 bit pattern (except NaNs) survives f16 -> f32 -> f16.
TEST(Half, F16RoundTripAllPatterns) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_FLOAT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 is exactly half-way between bf16 1.0 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
}

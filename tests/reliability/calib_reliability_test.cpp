// Regression tests for the calibration readers found while fuzzing them (tests/fuzz/calib_fuzz.cpp).
#include <gtest/gtest.h>
#include <zstd.h>

#include <string>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "quant/calib_data.hpp"

namespace {

std::string zstd(const std::string& s, int level = 19) {
  std::string z(ZSTD_compressBound(s.size()), '\0');
  z.resize(ZSTD_compress(z.data(), z.size(), s.data(), s.size(), level));
  return z;
}

// A frame whose decoded size is many output buffers (840 KB from ~130 bytes): every byte must
// come out, whether or not the decoder still buffers output after consuming the last input.
TEST(CalibReliability, HighlyCompressibleZstdIsReadWhole) {
  std::string jsonl;
  for (int i = 0; i < 20000; ++i) jsonl += "{\"text\": \"the same line again and again\"}\n";
  const auto s = awqx::quant::parse_calib_bytes(zstd(jsonl), "x.jsonl.zst");
  EXPECT_EQ(s.size(), 20000u);
}

// A zstd "bomb" is refused at the bound instead of exhausting memory.
TEST(CalibReliability, ZstdBombStopsAtBound) {
  const std::string z = zstd(std::string(size_t{8} << 20, 'a'));
  ASSERT_LT(z.size(), 4096u);
  try {
    awqx::quant::parse_calib_bytes(z, "bomb.txt.zst", size_t{1} << 20);
    FAIL() << "no error";
  } catch (const awqx::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bomb.txt.zst"), std::string::npos) << e.what();
  }
}

TEST(CalibReliability, EmptyAndTruncatedZstdAreErrors) {
  EXPECT_THROW(awqx::quant::parse_calib_bytes("", "e.jsonl.zst"), awqx::Error);
  const std::string z = zstd("{\"text\": \"hello\"}\n");
  EXPECT_THROW(awqx::quant::parse_calib_bytes(z.substr(0, z.size() - 3), "t.jsonl.zst"), awqx::Error);
  EXPECT_THROW(awqx::quant::parse_calib_bytes("", "e.txt"), awqx::Error);
  EXPECT_THROW(awqx::quant::parse_calib_bytes(" \n\n\t\n", "e.txt"), awqx::Error);
}

TEST(CalibReliability, Utf8Validation) {
  EXPECT_EQ(awqx::utf8_invalid_offset("ok \xc3\xa9 \xf0\x9f\x98\x80"), std::string::npos);
  EXPECT_EQ(awqx::utf8_invalid_offset("ab\xff"), 2u);
  EXPECT_EQ(awqx::utf8_invalid_offset("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(awqx::utf8_invalid_offset("x\xed\xa0\x80"), 1u);     // surrogate
  EXPECT_EQ(awqx::utf8_invalid_offset("x\xe4\xb8"), 1u);         // truncated at the end
  EXPECT_EQ(awqx::utf8_invalid_offset("\xf4\x90\x80\x80"), 0u);  // > U+10FFFF
  try {
    awqx::quant::parse_calib_bytes("good\n\nbad \xfe\n", "c.txt");
    FAIL() << "no error";
  } catch (const awqx::Error& e) {
    EXPECT_NE(std::string(e.what()).find("offset 10"), std::string::npos) << e.what();
  }
}

}  // namespace

// Calibration file formats and AutoAWQ-style block sampling (awq-reference.md §4).
#include <gtest/gtest.h>
#include <zstd.h>

#include <fstream>

#include "awqx/error.hpp"
#include "awqx/quantize.hpp"
#include "awqx/tokenizer.hpp"
#include "quant/calib_data.hpp"
#include "test_util.hpp"

namespace {

TEST(CalibData, TxtJsonlAndZstdGiveTheSameSamples) {
  awqx_test::TempDir tmp;
  std::ofstream(tmp / "a.txt") << "\xEF\xBB\xBF first para\nline two\n \n\n second \n";
  const std::string jsonl = "{\"text\": \" first para\\nline two\"}\n\n{\"text\": \"second\", \"id\": 3}\n";
  std::ofstream(tmp / "a.jsonl") << jsonl;
  std::string z(ZSTD_compressBound(jsonl.size()), '\0');
  z.resize(ZSTD_compress(z.data(), z.size(), jsonl.data(), jsonl.size(), 3));
  std::ofstream(tmp / "a.jsonl.zst", std::ios::binary) << z;
  const std::vector<std::string> want = {"first para\nline two", "second"};
  EXPECT_EQ(awqx::quant::read_calib_file(tmp / "a.txt"), want);
  EXPECT_EQ(awqx::quant::read_calib_file(tmp / "a.jsonl"), want);
  EXPECT_EQ(awqx::quant::read_calib_file(tmp / "a.jsonl.zst"), want);
  std::ofstream(tmp / "bad.jsonl") << "{\"txt\": 1}\n";
  EXPECT_THROW(awqx::quant::read_calib_file(tmp / "bad.jsonl"), awqx::Error);
  // pileval resolves from --calib-dir, else a clear io error.
  awqx::QuantizeOptions o;
  o.calib_dir = tmp.path();
  EXPECT_THROW(awqx::quant::gather_calib_samples(o), awqx::Error);
  std::ofstream(tmp / "pileval.jsonl") << jsonl;
  EXPECT_EQ(awqx::quant::gather_calib_samples(o), want);
}

TEST(CalibData, SkipsLongSamplesStopsAtNAndDropsTail) {
  auto tok = awqx::Tokenizer::load(awqx_test::shared_path("models/tiny-llama-7m"));
  const std::string longer(2000, 'a');
  const std::vector<std::string> s = {"hello world", longer, "the cat sat on the mat", "one two three"};
  std::vector<int32_t> all;
  for (const auto& x : {s[0], s[2]}) {
    auto ids = tok->encode(x, true);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  const int seqlen = 8;  // both short samples fit (5 and 7 tokens); the long one does not
  // n_samples 2: the long one is skipped (not counted), the 4th is not reached.
  const auto got = awqx::quant::make_calib_tokens(s, *tok, 2, seqlen, "");
  all.resize(all.size() / seqlen * seqlen);
  EXPECT_EQ(got, all);
  EXPECT_EQ(got.front(), tok->bos_id());
  EXPECT_THROW(awqx::quant::make_calib_tokens({"hi"}, *tok, 2, 512, ""), awqx::Error);
}

}  // namespace

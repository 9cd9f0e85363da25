// AutoAWQ format interop: golden checkpoints packed by an independent numpy packer
// (tests/reference/awq_pack_ref.py -> tests/reference/data/awq_pack_ref.safetensors) must unpack
// to exactly the integers and dequantized values the script stored; pack -> unpack round trips
// exactly; malformed tensors raise typed errors naming the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "awqx/awq_format.hpp"
#include "awqx/error.hpp"
#include "awqx/half.hpp"
#include "awqx/safetensors.hpp"
#include "test_util.hpp"

namespace {

using awqx::DType;
using awqx::TensorView;

std::shared_ptr<awqx::SafetensorsFile> golden() {
  static auto f = awqx::SafetensorsFile::open(awqx_test::source_dir() + "/tests/reference/data/awq_pack_ref.safetensors");
  return f;
}

// Compares an unpacked Q4Weights with the script's expectations. All values are exact: the
// integers are integers, the scales are fp16 values (exact in fp32), and (q - z) * s is one fp32
// multiplication of exact operands in both numpy and awqx, so the comparison is bitwise.
void expect_matches(const awqx::Q4Weights& w, const std::string& c) {
  auto f = golden();
  const TensorView eq = f->get(c + ".expect_q"), ez = f->get(c + ".expect_z"), es = f->get(c + ".expect_s"),
                   ew = f->get(c + ".expect_w");
  ASSERT_EQ(w.n, eq.shape[0]);
  ASSERT_EQ(w.k, eq.shape[1]);
  const int64_t ng = ez.shape[1];
  ASSERT_EQ(w.groups(), ng);
  for (int64_t r = 0; r < w.n; ++r)
    for (int64_t c2 = 0; c2 < w.k; ++c2) ASSERT_EQ(w.q(r, c2), eq.as<int32_t>()[r * w.k + c2]) << c << " q " << r << "," << c2;
  for (int64_t i = 0; i < w.n * ng; ++i) {
    ASSERT_EQ(w.zeros[i], ez.as<int32_t>()[i]) << c << " z " << i;
    ASSERT_EQ(w.scales[i], es.as<float>()[i]) << c << " s " << i;
  }
  const std::vector<float> d = w.dequantize();
  for (int64_t i = 0; i < w.n * w.k; ++i) ASSERT_EQ(d[i], ew.as<float>()[i]) << c << " w " << i;
}

awqx::Q4Weights load_gemm(const std::string& c, int g, bool zp) {
  auto f = golden();
  const TensorView qw = f->get(c + ".qweight"), sc = f->get(c + ".scales");
  std::optional<TensorView> qz, b;
  if (f->has(c + ".qzeros")) qz = f->get(c + ".qzeros");
  if (f->has(c + ".bias")) b = f->get(c + ".bias");
  return awqx::awq_unpack_gemm(qw, qz ? &*qz : nullptr, sc, b ? &*b : nullptr, g, zp, f->path(), c);
}

awqx::Q4Weights load_gemv(const std::string& c, int g) {
  auto f = golden();
  const TensorView qw = f->get(c + ".qweight"), sc = f->get(c + ".scales"), qz = f->get(c + ".qzeros");
  return awqx::awq_unpack_gemv(qw, &qz, sc, nullptr, g, true, f->path(), c);
}

TEST(AwqFormat, GemmGoldenFromNumpyPacker) {
  auto w = load_gemm("gemm_zp_g32", 32, true);
  EXPECT_TRUE(w.zero_point);
  expect_matches(w, "gemm_zp_g32");
  const TensorView b = golden()->get("gemm_zp_g32.bias");
  ASSERT_EQ(w.bias.size(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(w.bias[i], awqx::f16_to_f32(b.as<uint16_t>()[i]));
  expect_matches(load_gemm("gemm_zp_g128", 128, true), "gemm_zp_g128");
}

TEST(AwqFormat, GemmSymmetricWithAndWithoutQzeros) {
  auto w = load_gemm("gemm_sym_g64", 64, false);
  EXPECT_FALSE(w.zero_point);
  expect_matches(w, "gemm_sym_g64");
  auto w2 = load_gemm("gemm_sym_noz_gall", -1, false);  // no qzeros tensor: implicit 8
  EXPECT_FALSE(w2.zero_point);
  EXPECT_EQ(w2.group_size, 64);
  expect_matches(w2, "gemm_sym_noz_gall");
}

TEST(AwqFormat, GemvGoldenWithPaddedWidths) {
  // K=64 g=32: 2 groups -> ceil(2/8)=1 word, rounded to a multiple of 4 -> qzeros [16, 4], scales [16, 32].
  EXPECT_EQ(awqx::gemv_zeros_width(64, 32), 4);
  EXPECT_EQ(awqx::gemv_zeros_width(192, 64), 2);
  EXPECT_EQ(awqx::gemv_zeros_width(4096, 128), 4);
  EXPECT_EQ(golden()->get("gemv_zp_g32.scales").shape, (std::vector<int64_t>{16, 32}));
  expect_matches(load_gemv("gemv_zp_g32", 32), "gemv_zp_g32");
  expect_matches(load_gemv("gemv_zp_g64", 64), "gemv_zp_g64");
  expect_matches(load_gemv("gemv_zp_g128", 128), "gemv_zp_g128");
}

TEST(AwqFormat, PackMatchesNumpyBytes) {
  // Packing the unpacked weights must give back the numpy packer's exact words.
  for (const char* c : {"gemm_zp_g32", "gemm_sym_g64", "gemm_zp_g128"}) {
    const int g = std::string(c) == "gemm_zp_g32" ? 32 : std::string(c) == "gemm_sym_g64" ? 64 : 128;
    auto w = load_gemm(c, g, std::string(c) != "gemm_sym_g64");
    auto t = awqx::awq_pack_gemm(w, c);
    for (const auto& [mine, name] : {std::pair{&t.qweight, ".qweight"}, {&t.qzeros, ".qzeros"}, {&t.scales, ".scales"}}) {
      const TensorView ref = golden()->get(std::string(c) + name);
      ASSERT_EQ(mine->shape, ref.shape) << c << name;
      ASSERT_EQ(mine->nbytes, ref.nbytes);
      EXPECT_EQ(std::memcmp(mine->data, ref.data, ref.nbytes), 0) << c << name;
      EXPECT_EQ(mine->name, std::string(c) + name);
    }
  }
  for (const auto& [c, g] : {std::pair{"gemv_zp_g32", 32}, {"gemv_zp_g64", 64}, {"gemv_zp_g128", 128}}) {
    auto t = awqx::awq_pack_gemv(load_gemv(c, g), c);
    for (const auto& [mine, name] : {std::pair{&t.qweight, ".qweight"}, {&t.qzeros, ".qzeros"}, {&t.scales, ".scales"}}) {
      const TensorView ref = golden()->get(std::string(c) + name);
      ASSERT_EQ(mine->shape, ref.shape) << c << name;
      EXPECT_EQ(std::memcmp(mine->data, ref.data, ref.nbytes), 0) << c << name;
    }
  }
}

TEST(AwqFormat, PackUnpackRoundTripExact) {
  awqx::Q4Weights w = awqx::Q4Weights::empty(24, 96, 32, true);
  uint32_t st = 12345;
  auto rnd = [&] { return st = st * 1664525u + 1013904223u, st >> 8; };
  for (int64_t r = 0; r < w.n; ++r)
    for (int64_t c = 0; c < w.k; ++c) w.set_q(r, c, rnd() & 15);
  for (size_t i = 0; i < w.scales.size(); ++i) {
    w.scales[i] = awqx::round_to_f16(0.001f * static_cast<float>(1 + rnd() % 1000));
    w.zeros[i] = rnd() & 15;
  }
  w.bias.resize(24);
  for (auto& b : w.bias) b = awqx::round_to_f16(static_cast<float>(rnd() % 2001) / 1000.0f - 1.0f);
  // In memory for now (the packed views are what the writer gets); see the file-level test below.
  for (bool gemv : {false, true}) {
    auto t = gemv ? awqx::awq_pack_gemv(w, "m.l") : awqx::awq_pack_gemm(w, "m.l");
    const std::string path = "mem";
    const TensorView qw = t.qweight, qz = t.qzeros, sc = t.scales, b = *t.bias;
    auto back = gemv ? awqx::awq_unpack_gemv(qw, &qz, sc, &b, 32, true, path, "m.l")
                     : awqx::awq_unpack_gemm(qw, &qz, sc, &b, 32, true, path, "m.l");
    EXPECT_EQ(back.qdata, w.qdata);
    EXPECT_EQ(back.zeros, w.zeros);
    EXPECT_EQ(back.scales, w.scales);
    EXPECT_EQ(back.bias, w.bias);
    EXPECT_EQ(back.group_size, 32);
  }
}

template <class F>
void expect_error(F&& f, awqx::ErrorCode code, const std::string& field_part) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const awqx::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(field_part), std::string::npos) << e.what();
    EXPECT_EQ(e.file(), "ckpt.safetensors") << e.what();
  }
}

TEST(AwqFormat, BadTensorsGiveTypedErrors) {
  auto f = golden();
  const std::string c = "gemm_zp_g32";
  const TensorView qw = f->get(c + ".qweight"), qz = f->get(c + ".qzeros"), sc = f->get(c + ".scales");
  const std::string file = "ckpt.safetensors";
  // Wrong group size: scales rows disagree.
  expect_error([&] { awqx::awq_unpack_gemm(qw, &qz, sc, nullptr, 64, true, file, "p"); }, awqx::ErrorCode::shape, "p.scales");
  // K not divisible by the group size.
  expect_error([&] { awqx::awq_unpack_gemm(qw, &qz, sc, nullptr, 96, true, file, "p"); }, awqx::ErrorCode::shape, "p.qweight");
  // dtype swaps.
  expect_error([&] { awqx::awq_unpack_gemm(sc, &qz, sc, nullptr, 32, true, file, "p"); }, awqx::ErrorCode::dtype, "p.qweight");
  expect_error([&] { awqx::awq_unpack_gemm(qw, &qz, qw, nullptr, 32, true, file, "p"); }, awqx::ErrorCode::dtype, "p.scales");
  // zero_point without qzeros.
  expect_error([&] { awqx::awq_unpack_gemm(qw, nullptr, sc, nullptr, 32, true, file, "p"); }, awqx::ErrorCode::format, "p.qzeros");
  // Truncated byte span.
  TensorView bad = qw;
  bad.nbytes -= 4;
  expect_error([&] { awqx::awq_unpack_gemm(bad, &qz, sc, nullptr, 32, true, file, "p"); }, awqx::ErrorCode::format, "p.qweight");
  // NaN / Inf scales.
  for (uint16_t special : {uint16_t{0x7e00}, uint16_t{0x7c00}}) {
    std::vector<uint16_t> s(sc.as<uint16_t>(), sc.as<uint16_t>() + sc.numel());
    s[5] = special;
    TensorView t = sc;
    t.data = s.data();
    expect_error([&] { awqx::awq_unpack_gemm(qw, &qz, t, nullptr, 32, true, file, "p"); }, awqx::ErrorCode::format, "p.scales");
  }
  // Bias of the wrong length.
  const TensorView b = f->get(c + ".bias");
  TensorView b2 = b;
  b2.shape = {8};
  b2.nbytes = 16;
  expect_error([&] { awqx::awq_unpack_gemm(qw, &qz, sc, &b2, 32, true, file, "p"); }, awqx::ErrorCode::shape, "p.bias");
  // N % 8 on pack.
  EXPECT_THROW(awqx::awq_pack_gemm(awqx::Q4Weights::empty(12, 64, 32, true), "x"), awqx::Error);
  // GEMV: scales width not padded as AutoAWQ does.
  const TensorView vqw = f->get("gemv_zp_g32.qweight"), vqz = f->get("gemv_zp_g32.qzeros");
  TensorView vsc = f->get("gemv_zp_g32.scales");
  vsc.shape = {16, 16};
  vsc.nbytes /= 2;
  expect_error([&] { awqx::awq_unpack_gemv(vqw, &vqz, vsc, nullptr, 32, true, file, "p"); }, awqx::ErrorCode::shape, "p.scales");
}

}  // namespace

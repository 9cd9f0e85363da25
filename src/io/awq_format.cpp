// AutoAWQ GEMM / GEMV packing and unpacking (include/awqx/awq_format.hpp). Every shape and
// dtype is checked before any byte of a tensor is read; values (zeros 0..15 by construction,
// finite scales) are checked while unpacking.
#include "awqx/awq_format.hpp"

#include <algorithm>

#include <cmath>
#include <cstring>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/half.hpp"
#include "awqx/parallel.hpp"

namespace awqx {
namespace {

std::string tname(const std::string& prefix, const char* t) { return prefix.empty() ? t : prefix + "." + t; }

std::string shape_string(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

void check_dtype(const TensorView& t, DType want, const std::string& file, const std::string& name) {
  if (t.dtype != want)
    throw Error::mismatch(ErrorCode::dtype, file, name, dtype_name(want), dtype_name(t.dtype));
}

// Checks the rank, every dim >= 1, the byte span and the data pointer.
void check_shape(const TensorView& t, const std::vector<int64_t>& want, const std::string& file,
                 const std::string& name) {
  if (t.shape != want)
    throw Error::mismatch(ErrorCode::shape, file, name, "shape " + shape_string(want), shape_string(t.shape));
  size_t elems = 1;
  for (int64_t d : want) elems *= static_cast<size_t>(d);  // bounded by the caller's 2^40 check
  if (t.nbytes != elems * dtype_size(t.dtype) || (elems > 0 && t.data == nullptr))
    throw Error::mismatch(ErrorCode::format, file, name, fmt::format("{} bytes", elems * dtype_size(t.dtype)),
                          fmt::format("{} bytes", t.nbytes));
}

int64_t dim(const TensorView& t, size_t i) { return i < t.shape.size() ? t.shape[i] : -1; }

uint16_t load_u16(const TensorView& t, size_t i) {
  uint16_t v;
  std::memcpy(&v, static_cast<const uint8_t*>(t.data) + 2 * i, 2);
  return v;
}
uint32_t load_u32(const TensorView& t, size_t i) {
  uint32_t v;
  std::memcpy(&v, static_cast<const uint8_t*>(t.data) + 4 * i, 4);
  return v;
}

float checked_f16(const TensorView& t, size_t i, const std::string& file, const std::string& name) {
  const float v = f16_to_f32(load_u16(t, i));
  if (!std::isfinite(v))
    throw Error::mismatch(ErrorCode::format, file, name, "finite values", fmt::format("{} at index {}", v, i));
  return v;
}

// Common shape bookkeeping: n, k, g from qweight/scales, limits.
struct Dims {
  int64_t n, k, g;
};

void check_limits(int64_t n, int64_t k, const std::string& file, const std::string& name) {
  if (n < 8 || k < 2 || k % 2 != 0 || k > (int64_t{1} << 40) / n)
    throw Error::mismatch(ErrorCode::shape, file, name, "out_features >= 8, even in_features >= 2, n*k < 2^40",
                          fmt::format("out_features={} in_features={}", n, k));
}

void read_bias(Q4Weights& w, const TensorView* bias, const std::string& file, const std::string& prefix) {
  if (!bias) return;
  const std::string bn = tname(prefix, "bias");
  if (bias->dtype != DType::F16 && bias->dtype != DType::F32 && bias->dtype != DType::BF16)
    throw Error::mismatch(ErrorCode::dtype, file, bn, "F16, BF16 or F32", dtype_name(bias->dtype));
  check_shape(*bias, {w.n}, file, bn);
  w.bias.resize(static_cast<size_t>(w.n));
  for (int64_t i = 0; i < w.n; ++i) {
    float v;
    if (bias->dtype == DType::F16) v = f16_to_f32(load_u16(*bias, i));
    else if (bias->dtype == DType::BF16) v = bf16_to_f32(load_u16(*bias, i));
    else std::memcpy(&v, static_cast<const uint8_t*>(bias->data) + 4 * i, 4);
    if (!std::isfinite(v))
      throw Error::mismatch(ErrorCode::format, file, bn, "finite values", fmt::format("{} at index {}", v, i));
    w.bias[static_cast<size_t>(i)] = v;
  }
}

// zero_point false + qzeros present: keep the file's zeros; they are all 8 for symmetric models.
void finish_zero_point(Q4Weights& w, bool zero_point) {
  if (zero_point) return;
  for (uint8_t z : w.zeros)
    if (z != 8) {
      w.zero_point = true;
      return;
    }
}

std::shared_ptr<std::vector<uint8_t>> buffer(size_t n) { return std::make_shared<std::vector<uint8_t>>(n, 0); }

TensorView owned_view(std::string name, DType dt, std::vector<int64_t> shape, std::shared_ptr<std::vector<uint8_t>> buf) {
  TensorView t;
  t.name = std::move(name);
  t.dtype = dt;
  t.shape = std::move(shape);
  t.data = buf->data();
  t.nbytes = buf->size();
  t.owner = std::shared_ptr<const void>(buf, buf->data());
  return t;
}

void store_u32(std::vector<uint8_t>& b, size_t i, uint32_t v) { std::memcpy(b.data() + 4 * i, &v, 4); }
void store_u16(std::vector<uint8_t>& b, size_t i, uint16_t v) { std::memcpy(b.data() + 2 * i, &v, 2); }

std::optional<TensorView> pack_bias(const Q4Weights& w, const std::string& prefix) {
  if (w.bias.empty()) return std::nullopt;
  auto b = buffer(static_cast<size_t>(w.n) * 2);
  for (int64_t i = 0; i < w.n; ++i) store_u16(*b, i, f32_to_f16(w.bias[static_cast<size_t>(i)]));
  return owned_view(tname(prefix, "bias"), DType::F16, {w.n}, b);
}

// Dtypes and rank shared by both on-disk layouts; returns qweight's two dims (the packed one >= 1).
std::pair<int64_t, int64_t> check_qweight_rank(const TensorView& qweight, const TensorView& scales,
                                               const std::string& file, const std::string& qn, const std::string& sn,
                                               const char* layout, const char* packed_dim) {
  check_dtype(qweight, DType::I32, file, qn);
  check_dtype(scales, DType::F16, file, sn);
  if (qweight.shape.size() != 2)
    throw Error::mismatch(ErrorCode::shape, file, qn, fmt::format("rank 2 {}", layout), shape_string(qweight.shape));
  const int64_t a = dim(qweight, 0), b = dim(qweight, 1);
  if (b < 1 || b > (int64_t{1} << 40))
    throw Error::mismatch(ErrorCode::shape, file, qn, fmt::format("{} >= 1", packed_dim), shape_string(qweight.shape));
  return {a, b};
}

}  // namespace

int64_t resolve_group_size(int group_size, int64_t k, const std::string& file, const std::string& prefix) {
  const int64_t g = group_size == -1 ? k : group_size;
  if (g < 1 || k % g != 0)
    throw Error::mismatch(ErrorCode::shape, file, prefix, fmt::format("in_features divisible by group_size {}", group_size),
                          fmt::format("in_features {}", k));
  return g;
}

int64_t gemv_zeros_width(int64_t k, int64_t group_size) {
  const int64_t base = (k / group_size + 7) / 8;
  const int64_t mult = group_size >= 128 ? 1 : group_size == 64 ? 2 : group_size == 32 ? 4 : 1;
  return (base + mult - 1) / mult * mult;
}

Q4Weights awq_unpack_gemm(const TensorView& qweight, const TensorView* qzeros, const TensorView& scales,
                          const TensorView* bias, int group_size, bool zero_point, const std::string& file,
                          const std::string& prefix) {
  const std::string qn = tname(prefix, "qweight"), zn = tname(prefix, "qzeros"), sn = tname(prefix, "scales");
  const auto [k_rows, n8_cols] = check_qweight_rank(qweight, scales, file, qn, sn, "[K, N/8]", "N/8");
  const int64_t k = k_rows, n8 = n8_cols;  // named copies: clang 14 cannot capture structured bindings
  const int64_t n = n8 * 8;
  check_limits(n, k, file, qn);
  const int64_t g = resolve_group_size(group_size, k, file, qn);
  const int64_t ng = k / g;
  check_shape(qweight, {k, n8}, file, qn);
  check_shape(scales, {ng, n}, file, sn);
  if (qzeros) {
    check_dtype(*qzeros, DType::I32, file, zn);
    check_shape(*qzeros, {ng, n8}, file, zn);
  } else if (zero_point) {
    throw Error::mismatch(ErrorCode::format, file, zn, "a qzeros tensor (zero_point=true)", "none");
  }

  Q4Weights w = Q4Weights::empty(n, k, static_cast<int>(g), zero_point);
  // Scales/zeros: file is [group][n], q4n is [n][group].
  for (int64_t j = 0; j < ng; ++j)
    for (int64_t c = 0; c < n; ++c)
      w.scales[static_cast<size_t>(c * ng + j)] = checked_f16(scales, static_cast<size_t>(j * n + c), file, sn);
  if (qzeros) {
    for (int64_t j = 0; j < ng; ++j)
      for (int64_t c = 0; c < n8; ++c) {
        const uint32_t word = load_u32(*qzeros, static_cast<size_t>(j * n8 + c));
        for (int i = 0; i < 8; ++i)
          w.zeros[static_cast<size_t>((8 * c + kAwqOrder[i]) * ng + j)] = static_cast<uint8_t>((word >> (4 * i)) & 0xF);
      }
  }
  // Transpose [K][N/8] words into [N][K/2] bytes: threads take disjoint groups of 8 output
  // rows; two K values make one output byte (written whole, no read-modify-write), and K is
  // walked in blocks so the 16 words of a qweight cache line serve 16 consecutive groups.
  // (A plain K-outer loop with per-nibble writes made loading a 7B model take minutes.)
  if (k % 2 == 0) {
    const uint8_t* qw = static_cast<const uint8_t*>(qweight.data);
    parallel_for(0, n8, 16, [&](int64_t c0, int64_t c1) {
      constexpr int64_t kBlock = 256;
      for (int64_t j0 = 0; j0 < k / 2; j0 += kBlock / 2)
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t j = j0; j < std::min(k / 2, j0 + kBlock / 2); ++j) {
            uint32_t w0, w1;
            std::memcpy(&w0, qw + 4 * static_cast<size_t>((2 * j) * n8 + c), 4);
            std::memcpy(&w1, qw + 4 * static_cast<size_t>((2 * j + 1) * n8 + c), 4);
            for (int i = 0; i < 8; ++i)
              w.qdata[static_cast<size_t>((8 * c + kAwqOrder[i]) * (k / 2) + j)] =
                  static_cast<uint8_t>(((w0 >> (4 * i)) & 0xF) | (((w1 >> (4 * i)) & 0xF) << 4));
          }
    });
  } else {
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t c = 0; c < n8; ++c) {
        const uint32_t word = load_u32(qweight, static_cast<size_t>(kk * n8 + c));
        for (int i = 0; i < 8; ++i) w.set_q(8 * c + kAwqOrder[i], kk, static_cast<uint8_t>((word >> (4 * i)) & 0xF));
      }
  }
  read_bias(w, bias, file, prefix);
  finish_zero_point(w, zero_point);
  return w;
}

Q4Weights awq_unpack_gemv(const TensorView& qweight, const TensorView* qzeros, const TensorView& scales,
                          const TensorView* bias, int group_size, bool zero_point, const std::string& file,
                          const std::string& prefix) {
  const std::string qn = tname(prefix, "qweight"), zn = tname(prefix, "qzeros"), sn = tname(prefix, "scales");
  const auto [n, k8] = check_qweight_rank(qweight, scales, file, qn, sn, "[N, K/8]", "K/8");
  const int64_t k = k8 * 8;
  check_limits(n, k, file, qn);
  if (n % 8 != 0)
    throw Error::mismatch(ErrorCode::shape, file, qn, "out_features divisible by 8", fmt::format("{}", n));
  const int64_t g = resolve_group_size(group_size, k, file, qn);
  const int64_t ng = k / g, zw = gemv_zeros_width(k, g);
  check_shape(qweight, {n, k8}, file, qn);
  check_shape(scales, {n, 8 * zw}, file, sn);
  if (qzeros) {
    check_dtype(*qzeros, DType::I32, file, zn);
    check_shape(*qzeros, {n, zw}, file, zn);
  } else if (zero_point) {
    throw Error::mismatch(ErrorCode::format, file, zn, "a qzeros tensor (zero_point=true)", "none");
  }
  Q4Weights w = Q4Weights::empty(n, k, static_cast<int>(g), zero_point);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < ng; ++j) {
      w.scales[static_cast<size_t>(r * ng + j)] = checked_f16(scales, static_cast<size_t>(r * 8 * zw + j), file, sn);
      if (qzeros) {
        const uint32_t word = load_u32(*qzeros, static_cast<size_t>(r * zw + j / 8));
        w.zeros[static_cast<size_t>(r * ng + j)] = static_cast<uint8_t>((word >> (4 * (j % 8))) & 0xF);
      }
    }
  // Natural order along K matches q4n's byte layout: word (r, c) = bytes (r, 4c..4c+3).
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k8; ++c) {
      const uint32_t word = load_u32(qweight, static_cast<size_t>(r * k8 + c));
      for (int b = 0; b < 4; ++b)
        w.qdata[static_cast<size_t>(r * (k / 2) + 4 * c + b)] = static_cast<uint8_t>((word >> (8 * b)) & 0xFF);
    }
  read_bias(w, bias, file, prefix);
  finish_zero_point(w, zero_point);
  return w;
}

AwqGemmTensors awq_pack_gemm(const Q4Weights& w, const std::string& prefix) {
  w.validate("", prefix);
  if (w.n % 8 != 0)
    throw Error::mismatch(ErrorCode::shape, "", prefix, "out_features divisible by 8", fmt::format("{}", w.n));
  const int64_t n8 = w.n / 8, ng = w.groups();
  auto qw = buffer(static_cast<size_t>(w.k * n8) * 4), qz = buffer(static_cast<size_t>(ng * n8) * 4),
       sc = buffer(static_cast<size_t>(ng * w.n) * 2);
  for (int64_t kk = 0; kk < w.k; ++kk)
    for (int64_t c = 0; c < n8; ++c) {
      uint32_t word = 0;
      for (int i = 0; i < 8; ++i) word |= static_cast<uint32_t>(w.q(8 * c + kAwqOrder[i], kk)) << (4 * i);
      store_u32(*qw, static_cast<size_t>(kk * n8 + c), word);
    }
  for (int64_t j = 0; j < ng; ++j) {
    for (int64_t c = 0; c < n8; ++c) {
      uint32_t word = 0;
      for (int i = 0; i < 8; ++i)
        word |= static_cast<uint32_t>(w.zeros[static_cast<size_t>((8 * c + kAwqOrder[i]) * ng + j)] & 0xF) << (4 * i);
      store_u32(*qz, static_cast<size_t>(j * n8 + c), word);
    }
    for (int64_t c = 0; c < w.n; ++c)
      store_u16(*sc, static_cast<size_t>(j * w.n + c), f32_to_f16(w.scales[static_cast<size_t>(c * ng + j)]));
  }
  AwqGemmTensors out;
  out.qweight = owned_view(tname(prefix, "qweight"), DType::I32, {w.k, n8}, qw);
  out.qzeros = owned_view(tname(prefix, "qzeros"), DType::I32, {ng, n8}, qz);
  out.scales = owned_view(tname(prefix, "scales"), DType::F16, {ng, w.n}, sc);
  out.bias = pack_bias(w, prefix);
  return out;
}

AwqGemmTensors awq_pack_gemv(const Q4Weights& w, const std::string& prefix) {
  w.validate("", prefix);
  if (w.n % 8 != 0 || w.k % 8 != 0)
    throw Error::mismatch(ErrorCode::shape, "", prefix, "out_features and in_features divisible by 8",
                          fmt::format("out_features={} in_features={}", w.n, w.k));
  const int64_t k8 = w.k / 8, ng = w.groups(), zw = gemv_zeros_width(w.k, w.group_size);
  auto qw = buffer(static_cast<size_t>(w.n * k8) * 4), qz = buffer(static_cast<size_t>(w.n * zw) * 4),
       sc = buffer(static_cast<size_t>(w.n * 8 * zw) * 2);
  std::memcpy(qw->data(), w.qdata.data(), qw->size());  // natural K order == q4n bytes (little endian)
  for (int64_t r = 0; r < w.n; ++r)
    for (int64_t j = 0; j < ng; ++j) {
      const size_t gi = static_cast<size_t>(r * ng + j);
      store_u16(*sc, static_cast<size_t>(r * 8 * zw + j), f32_to_f16(w.scales[gi]));
      const size_t wi = static_cast<size_t>(r * zw + j / 8);
      uint32_t word;
      std::memcpy(&word, qz->data() + 4 * wi, 4);
      word |= static_cast<uint32_t>(w.zeros[gi] & 0xF) << (4 * (j % 8));
      store_u32(*qz, wi, word);
    }
  AwqGemmTensors out;
  out.qweight = owned_view(tname(prefix, "qweight"), DType::I32, {w.n, k8}, qw);
  out.qzeros = owned_view(tname(prefix, "qzeros"), DType::I32, {w.n, zw}, qz);
  out.scales = owned_view(tname(prefix, "scales"), DType::F16, {w.n, 8 * zw}, sc);
  out.bias = pack_bias(w, prefix);
  return out;
}

}  // namespace awqx

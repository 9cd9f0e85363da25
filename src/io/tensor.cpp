// dtype tables, fp32 conversion and in-memory tensor construction.
#include "awqx/tensor.hpp"

#include <cstring>

#include "awqx/error.hpp"
#include "awqx/half.hpp"

namespace awqx {

namespace {
struct DTypeInfo {
  DType d;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};
}  // namespace

size_t dtype_size(DType d) noexcept {
  for (const auto& i : kDTypes)
    if (i.d == d) return i.size;
  return 0;
}

const char* dtype_name(DType d) noexcept {
  for (const auto& i : kDTypes)
    if (i.d == d) return i.name;
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view s) noexcept {
  for (const auto& i : kDTypes)
    if (s == i.name) return i.d;
  return std::nullopt;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t TensorView::numel() const noexcept {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void TensorView::expect_shape(const std::vector<int64_t>& expected) const {
  if (shape != expected) throw Error::mismatch(ErrorCode::shape, file, name, shape_str(expected), shape_str(shape));
}

void TensorView::expect_dtype(std::initializer_list<DType> allowed) const {
  std::string list;
  for (DType d : allowed) {
    if (d == dtype) return;
    if (!list.empty()) list += " or ";
    list += dtype_name(d);
  }
  throw Error::mismatch(ErrorCode::dtype, file, name, "dtype " + list, dtype_name(dtype));
}

void to_f32(const TensorView& t, float* out) {
  const size_t n = static_cast<size_t>(t.numel());
  if (n * dtype_size(t.dtype) != t.nbytes)
    throw Error::mismatch(ErrorCode::internal, t.file, t.name, std::to_string(n * dtype_size(t.dtype)) + " bytes",
                          std::to_string(t.nbytes));
  const auto* p = static_cast<const uint8_t*>(t.data);
  switch (t.dtype) {
    case DType::F32:
      if (n) std::memcpy(out, p, n * 4);
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);  // mapped data may be unaligned
        out[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
    default:
      throw Error::mismatch(ErrorCode::dtype, t.file, t.name, "F32, F16 or BF16", dtype_name(t.dtype));
  }
}

std::vector<float> to_f32(const TensorView& t) {
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    throw Error::mismatch(ErrorCode::dtype, t.file, t.name, "F32, F16 or BF16", dtype_name(t.dtype));
  std::vector<float> v(static_cast<size_t>(t.numel()));
  to_f32(t, v.data());
  return v;
}

TensorView make_tensor(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
  TensorView t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  for (int64_t d : t.shape)
    if (d < 0) throw Error::mismatch(ErrorCode::shape, "", t.name, "non-negative dims", shape_str(t.shape));
  const size_t want = static_cast<size_t>(t.numel()) * dtype_size(dtype);
  if (want != bytes.size())
    throw Error::mismatch(ErrorCode::shape, "", t.name, std::to_string(want) + " bytes for " + shape_str(t.shape),
                          std::to_string(bytes.size()) + " bytes");
  auto buf = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  t.data = buf->data();
  t.nbytes = buf->size();
  t.owner = std::shared_ptr<const void>(buf, buf->data());
  return t;
}

namespace {
template <class Conv>
TensorView make_16(std::string name, DType dt, std::vector<int64_t> shape, const std::vector<float>& values,
                   Conv conv) {
  std::vector<uint8_t> bytes(values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t h = conv(values[i]);
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  }
  return make_tensor(std::move(name), dt, std::move(shape), std::move(bytes));
}
}  // namespace

TensorView make_f32_tensor(std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return make_tensor(std::move(name), DType::F32, std::move(shape), std::move(bytes));
}

TensorView make_f16_tensor(std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
  return make_16(std::move(name), DType::F16, std::move(shape), values, f32_to_f16);
}

TensorView make_bf16_tensor(std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
  return make_16(std::move(name), DType::BF16, std::move(shape), values, f32_to_bf16);
}

}  // namespace awqx

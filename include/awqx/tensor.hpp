// Tensor views: a dtype, a shape and bytes that are either memory-mapped from a safetensors
// file or owned. `owner` keeps the backing storage (the mapping or a buffer) alive, so a view
// may outlive the object it came from. Row-major, no strides.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace awqx {

enum class DType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType d) noexcept;
const char* dtype_name(DType d) noexcept;                     // safetensors spelling: "F32", "BF16"...
std::optional<DType> dtype_from_name(std::string_view s) noexcept;

std::string shape_str(const std::vector<int64_t>& shape);  // "[4096, 11008]"

struct TensorView {
  std::string name;   // tensor name, e.g. "model.layers.0.mlp.up_proj.weight"
  std::string file;   // file it came from ("" if made in memory) — used in error messages
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
  std::shared_ptr<const void> owner;  // keeps `data` alive

  int64_t numel() const noexcept;
  template <class T>
  const T* as() const noexcept { return static_cast<const T*>(data); }
  // Throws Error{shape} naming file + tensor unless shape == expected.
  void expect_shape(const std::vector<int64_t>& expected) const;
  // Throws Error{dtype} unless dtype is one of the given.
  void expect_dtype(std::initializer_list<DType> allowed) const;
};

// Converts F32/F16/BF16 to fp32 (throws Error{dtype} for others).
std::vector<float> to_f32(const TensorView& t);
// Converts into a caller buffer of t.numel() floats.
void to_f32(const TensorView& t, float* out);

// An owned tensor built in memory (for writers and tests).
TensorView make_tensor(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
TensorView make_f32_tensor(std::string name, std::vector<int64_t> shape, const std::vector<float>& values);
// fp32 values stored as F16 / BF16 (round-to-nearest-even).
TensorView make_f16_tensor(std::string name, std::vector<int64_t> shape, const std::vector<float>& values);
TensorView make_bf16_tensor(std::string name, std::vector<int64_t> shape, const std::vector<float>& values);

}  // namespace awqx

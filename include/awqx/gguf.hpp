// GGUF (llama.cpp model container) reader: header, metadata key/values and tensor infos of
// versions 2 and 3. Every length and count is checked against the bytes that remain before it
// is used, so any input gives either a GgufFile or Error{format}; nothing is trusted.
// Tensor data is not read (awqx only takes vocabularies from GGUF).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace awqx {

enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

// One metadata value. Scalars: `num` (integers and floats as double; exact for |x| < 2^53)
// plus `u`/`i` for 64-bit integers; strings in `str`. Arrays: `elem_type` and `strs` (string
// arrays) or `nums` (numeric/bool arrays); arrays of arrays are validated but kept empty.
struct GgufValue {
  GgufType type = GgufType::u8;
  GgufType elem_type = GgufType::u8;
  double num = 0;
  uint64_t u = 0;
  int64_t i = 0;
  std::string str;
  std::vector<std::string> strs;
  std::vector<double> nums;
  uint64_t count = 0;  // array length
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t ggml_type = 0;
  uint64_t offset = 0;  // relative to the data section
};

class GgufFile {
 public:
  // Parses a whole GGUF image. `name` is used in error messages. Error{format} on any defect.
  static GgufFile parse(std::string_view bytes, const std::string& name);
  // Reads and parses a file (memory-mapped). Error{io} if unreadable.
  static GgufFile read(const std::string& path);

  uint32_t version() const { return version_; }
  const std::vector<std::pair<std::string, GgufValue>>& kv() const { return kv_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  uint64_t data_offset() const { return data_offset_; }

  // nullptr if absent.
  const GgufValue* find(std::string_view key) const;
  // Typed accessors: Error{format} naming the key when present with another type.
  std::string get_string(std::string_view key, const std::string& fallback) const;
  int64_t get_int(std::string_view key, int64_t fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  const std::vector<std::string>* get_string_array(std::string_view key) const;  // nullptr if absent
  const std::vector<double>* get_num_array(std::string_view key) const;          // nullptr if absent
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  uint32_t version_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
  uint64_t data_offset_ = 0;
};

}  // namespace awqx

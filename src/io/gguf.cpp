// GGUF v2/v3 parser (see include/awqx/gguf.hpp). Layout: "GGUF", u32 version, u64 tensor
// count, u64 kv count, kv pairs (string key, u32 type, value), tensor infos (string name,
// u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset), padding to general.alignment.
#include "awqx/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "awqx/error.hpp"

namespace awqx {
namespace {

constexpr int kMaxDepth = 3;          // arrays of arrays of arrays at most
constexpr uint64_t kMaxKv = 1 << 20;  // far beyond any real file; bounds work on hostile input
constexpr uint64_t kMaxDims = 8;

class Reader {
 public:
  Reader(std::string_view b, const std::string& name) : b_(b), name_(name) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(ErrorCode::format, name_, field, what + " (at byte " + std::to_string(pos_) + ")");
  }
  void need(uint64_t n, const std::string& field) const {
    if (n > b_.size() - pos_)
      fail(field, "expected " + std::to_string(n) + " more bytes, found " + std::to_string(b_.size() - pos_));
  }
  template <class T>
  T pod(const std::string& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const std::string& field) {
    const uint64_t n = pod<uint64_t>(field);
    need(n, field);
    std::string s(b_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  std::string_view b_;
  const std::string& name_;
  size_t pos_ = 0;
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    default: return 0;
  }
}

void read_scalar(Reader& r, GgufType t, GgufValue& v, const std::string& field) {
  switch (t) {
    case GgufType::u8: v.u = r.pod<uint8_t>(field); v.i = static_cast<int64_t>(v.u); v.num = static_cast<double>(v.u); break;
    case GgufType::i8: v.i = r.pod<int8_t>(field); v.num = static_cast<double>(v.i); break;
    case GgufType::u16: v.u = r.pod<uint16_t>(field); v.i = static_cast<int64_t>(v.u); v.num = static_cast<double>(v.u); break;
    case GgufType::i16: v.i = r.pod<int16_t>(field); v.num = static_cast<double>(v.i); break;
    case GgufType::u32: v.u = r.pod<uint32_t>(field); v.i = static_cast<int64_t>(v.u); v.num = static_cast<double>(v.u); break;
    case GgufType::i32: v.i = r.pod<int32_t>(field); v.num = static_cast<double>(v.i); break;
    case GgufType::u64: v.u = r.pod<uint64_t>(field); v.i = static_cast<int64_t>(v.u); v.num = static_cast<double>(v.u); break;
    case GgufType::i64: v.i = r.pod<int64_t>(field); v.num = static_cast<double>(v.i); break;
    case GgufType::f32: v.num = r.pod<float>(field); break;
    case GgufType::f64: v.num = r.pod<double>(field); break;
    case GgufType::boolean: {
      const uint8_t b = r.pod<uint8_t>(field);
      if (b > 1) r.fail(field, "expected a bool (0 or 1), found " + std::to_string(b));
      v.num = b;
      v.i = b;
      v.u = b;
      break;
    }
    default: r.fail(field, "expected a scalar type, found type " + std::to_string(static_cast<uint32_t>(t)));
  }
}

GgufType read_type(Reader& r, const std::string& field) {
  const uint32_t t = r.pod<uint32_t>(field);
  if (t > 12) r.fail(field, "expected a value type 0..12, found " + std::to_string(t));
  return static_cast<GgufType>(t);
}

void read_value(Reader& r, GgufType t, GgufValue& v, const std::string& field, int depth) {
  v.type = t;
  if (t == GgufType::string) {
    v.str = r.str(field);
    return;
  }
  if (t != GgufType::array) {
    read_scalar(r, t, v, field);
    return;
  }
  if (depth >= kMaxDepth) r.fail(field, "expected arrays nested at most " + std::to_string(kMaxDepth) + " deep");
  v.elem_type = read_type(r, field);
  v.count = r.pod<uint64_t>(field);
  // Each element takes at least one byte (strings 8, scalars their size): bound the count
  // by what remains before reserving anything.
  const size_t min_size = v.elem_type == GgufType::string   ? 8
                          : v.elem_type == GgufType::array ? 12
                                                           : scalar_size(v.elem_type);
  if (v.count > r.remaining() / min_size)
    r.fail(field, "expected at most " + std::to_string(r.remaining() / min_size) + " elements, found " +
                      std::to_string(v.count));
  if (v.elem_type == GgufType::string) {
    v.strs.reserve(v.count);
    for (uint64_t k = 0; k < v.count; ++k) v.strs.push_back(r.str(field));
  } else if (v.elem_type == GgufType::array) {
    for (uint64_t k = 0; k < v.count; ++k) {
      GgufValue sub;
      read_value(r, GgufType::array, sub, field, depth + 1);
    }
  } else {
    v.nums.reserve(v.count);
    GgufValue s;
    for (uint64_t k = 0; k < v.count; ++k) {
      read_scalar(r, v.elem_type, s, field);
      v.nums.push_back(s.num);
    }
  }
}

}  // namespace

GgufFile GgufFile::parse(std::string_view bytes, const std::string& name) {
  GgufFile f;
  f.name_ = name;
  Reader r(bytes, f.name_);
  const uint32_t magic = r.pod<uint32_t>("magic");
  if (magic != 0x46554747u) r.fail("magic", "expected 'GGUF'");
  f.version_ = r.pod<uint32_t>("version");
  if (f.version_ != 2 && f.version_ != 3)
    r.fail("version", "expected GGUF version 2 or 3, found " + std::to_string(f.version_));
  const uint64_t n_tensors = r.pod<uint64_t>("tensor_count");
  const uint64_t n_kv = r.pod<uint64_t>("metadata_kv_count");
  if (n_kv > kMaxKv || n_kv > r.remaining() / 12)
    r.fail("metadata_kv_count", "expected a count the file can hold, found " + std::to_string(n_kv));
  // A tensor info takes at least 8 (name) + 4 + 4 + 8 bytes.
  if (n_tensors > r.remaining() / 24)
    r.fail("tensor_count", "expected a count the file can hold, found " + std::to_string(n_tensors));
  f.kv_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = r.str("metadata key #" + std::to_string(k));
    GgufValue v;
    const GgufType t = read_type(r, key);
    read_value(r, t, v, key, 0);
    f.kv_.emplace_back(std::move(key), std::move(v));
  }
  f.tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo ti;
    ti.name = r.str("tensor #" + std::to_string(k));
    const uint32_t nd = r.pod<uint32_t>(ti.name);
    if (nd == 0 || nd > kMaxDims) r.fail(ti.name, "expected 1.." + std::to_string(kMaxDims) + " dims, found " + std::to_string(nd));
    for (uint32_t d = 0; d < nd; ++d) ti.dims.push_back(r.pod<uint64_t>(ti.name));
    ti.ggml_type = r.pod<uint32_t>(ti.name);
    ti.offset = r.pod<uint64_t>(ti.name);
    f.tensors_.push_back(std::move(ti));
  }
  const int64_t align = f.get_int("general.alignment", 32);
  if (align <= 0 || align > (1 << 20) || (align & (align - 1)) != 0)
    r.fail("general.alignment", "expected a power of two, found " + std::to_string(align));
  const uint64_t a = static_cast<uint64_t>(align);
  f.data_offset_ = (r.pos() + a - 1) / a * a;
  if (n_tensors > 0 && f.data_offset_ > bytes.size())
    r.fail("data", "expected tensor data after the header, found end of file");
  return f;
}

GgufFile GgufFile::read(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::io, path, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::io, path, "", "expected a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return parse(std::string_view(), path);  // throws a format error
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw Error(ErrorCode::io, path, "", std::string("mmap failed: ") + std::strerror(errno));
  try {
    GgufFile f = parse(std::string_view(static_cast<const char*>(p), size), path);
    ::munmap(p, size);
    return f;
  } catch (...) {
    ::munmap(p, size);
    throw;
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

std::string GgufFile::get_string(std::string_view key, const std::string& fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::string) throw Error::mismatch(ErrorCode::format, name_, std::string(key), "a string", "another type");
  return v->str;
}

int64_t GgufFile::get_int(std::string_view key, int64_t fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type == GgufType::string || v->type == GgufType::array || v->type == GgufType::f32 ||
      v->type == GgufType::f64 || v->type == GgufType::boolean)
    throw Error::mismatch(ErrorCode::format, name_, std::string(key), "an integer", "another type");
  return v->i;
}

bool GgufFile::get_bool(std::string_view key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::boolean) throw Error::mismatch(ErrorCode::format, name_, std::string(key), "a bool", "another type");
  return v->u != 0;
}

const std::vector<std::string>* GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->type != GgufType::array || v->elem_type != GgufType::string)
    throw Error::mismatch(ErrorCode::format, name_, std::string(key), "an array of strings", "another type");
  return &v->strs;
}

const std::vector<double>* GgufFile::get_num_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->type != GgufType::array || v->elem_type == GgufType::string || v->elem_type == GgufType::array)
    throw Error::mismatch(ErrorCode::format, name_, std::string(key), "a numeric array", "another type");
  return &v->nums;
}

}  // namespace awqx

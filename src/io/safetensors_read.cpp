// safetensors reader: header validation (before any tensor byte is touched) and TensorStore.
#include <algorithm>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/safetensors.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors_index.hpp"

namespace awqx {

namespace {
// The HF library refuses headers above 100 MB; a larger one is a hostile or broken file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::string json_type(const nlohmann::json& j) { return j.type_name(); }
}  // namespace

struct SafetensorsParser {
  static void parse_into(SafetensorsFile& f, const uint8_t* base, size_t size) {
    const std::string& path = f.path_;
    if (size < 8) throw Error::mismatch(ErrorCode::format, path, "header length", "at least 8 bytes", std::to_string(size) + " bytes");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];  // little-endian u64
    if (n > size - 8)
      throw Error::mismatch(ErrorCode::format, path, "header length",
                            "at most " + std::to_string(size - 8) + " bytes (file size " + std::to_string(size) + ")",
                            std::to_string(n));
    if (n > kMaxHeaderBytes)
      throw Error::mismatch(ErrorCode::format, path, "header length", "at most 100 MB", std::to_string(n));
    const size_t data_begin = 8 + static_cast<size_t>(n);
    const size_t data_size = size - data_begin;

    nlohmann::json h = nlohmann::json::parse(reinterpret_cast<const char*>(base) + 8,
                                             reinterpret_cast<const char*>(base) + data_begin, nullptr,
                                             /*allow_exceptions=*/false);
    if (h.is_discarded()) throw Error::mismatch(ErrorCode::format, path, "header", "valid JSON", "malformed JSON");
    if (!h.is_object()) throw Error::mismatch(ErrorCode::format, path, "header", "a JSON object", json_type(h));

    struct Span {
      size_t begin, end;
      const std::string* name;
    };
    std::vector<Span> spans;
    for (auto it = h.begin(); it != h.end(); ++it) {
      const std::string& name = it.key();
      const nlohmann::json& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object()) throw Error::mismatch(ErrorCode::format, path, name, "an object of strings", json_type(v));
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string())
            throw Error::mismatch(ErrorCode::format, path, "__metadata__." + m.key(), "a string", json_type(m.value()));
          f.metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      if (!v.is_object()) throw Error::mismatch(ErrorCode::format, path, name, "an object", json_type(v));
      SafetensorsFile::Entry e{};
      // dtype
      auto dt = v.find("dtype");
      if (dt == v.end() || !dt->is_string())
        throw Error::mismatch(ErrorCode::format, path, name, "a string \"dtype\"",
                              dt == v.end() ? "none" : json_type(*dt));
      auto d = dtype_from_name(dt->get_ref<const std::string&>());
      if (!d) throw Error::mismatch(ErrorCode::dtype, path, name, "a known dtype (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)",
                                    "\"" + dt->get<std::string>() + "\"");
      e.dtype = *d;
      // shape
      auto sh = v.find("shape");
      if (sh == v.end() || !sh->is_array())
        throw Error::mismatch(ErrorCode::format, path, name, "an array \"shape\"", sh == v.end() ? "none" : json_type(*sh));
      uint64_t numel = 1;
      bool overflow = false;
      for (const auto& x : *sh) {
        if (!x.is_number_integer())
          throw Error::mismatch(ErrorCode::shape, path, name, "integer dimensions", json_type(x));
        if (x.is_number_unsigned() ? x.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) : x.get<int64_t>() < 0)
          throw Error::mismatch(ErrorCode::shape, path, name, "dimensions in [0, 2^63)", x.dump());
        const int64_t dim = x.get<int64_t>();
        e.shape.push_back(dim);
        overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel);
      }
      // data_offsets
      auto off = v.find("data_offsets");
      if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
          !(*off)[1].is_number_unsigned())
        throw Error::mismatch(ErrorCode::format, path, name, "\"data_offsets\": [begin, end] non-negative integers",
                              off == v.end() ? "none" : off->dump());
      const uint64_t b = (*off)[0].get<uint64_t>(), en = (*off)[1].get<uint64_t>();
      if (b > en) throw Error::mismatch(ErrorCode::format, path, name, "data_offsets begin <= end", off->dump());
      if (en > data_size)
        throw Error::mismatch(ErrorCode::format, path, name,
                              "data_offsets inside the data region of " + std::to_string(data_size) + " bytes",
                              off->dump());
      uint64_t want = 0;
      overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(e.dtype)), &want);
      if (overflow || want != en - b)
        throw Error::mismatch(ErrorCode::shape, path, name,
                              (overflow ? std::string("a representable size") : std::to_string(want) + " bytes") +
                                  " for " + dtype_name(e.dtype) + " " + shape_str(e.shape),
                              std::to_string(en - b) + " bytes in data_offsets");
      e.begin = data_begin + static_cast<size_t>(b);
      e.end = data_begin + static_cast<size_t>(en);
      auto ins = f.index_.emplace(name, std::move(e));
      spans.push_back({ins.first->second.begin, ins.first->second.end, &ins.first->first});
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
      return a.begin != b.begin ? a.begin < b.begin : (a.end != b.end ? a.end < b.end : *a.name < *b.name);
    });
    // Empty tensors occupy no bytes and cannot overlap anything.
    const Span* prev = nullptr;
    for (const Span& s : spans) {
      f.order_.push_back(*s.name);
      if (s.begin == s.end) continue;
      if (prev && s.begin < prev->end)
        throw Error::mismatch(ErrorCode::format, path, *s.name, "data not overlapping tensor '" + *prev->name + "'",
                              "offsets " + std::to_string(s.begin - data_begin) + " < " +
                                  std::to_string(prev->end - data_begin));
      prev = &s;
    }
    f.base_ = base;
    f.size_ = size;
  }
};

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto m = std::make_shared<MappedFile>(path);
  auto f = std::make_shared<SafetensorsFile>();
  f->path_ = path;
  SafetensorsParser::parse_into(*f, static_cast<const uint8_t*>(m->data()), m->size());
  f->keep_ = std::shared_ptr<const void>(m, m->data());
  return f;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::parse(const std::string& name, const void* data, size_t size) {
  auto f = std::make_shared<SafetensorsFile>();
  f->path_ = name;
  SafetensorsParser::parse_into(*f, static_cast<const uint8_t*>(data), size);
  return f;
}

std::vector<std::string> SafetensorsFile::names() const { return order_; }

TensorView SafetensorsFile::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw Error::mismatch(ErrorCode::format, path_, name, "a tensor of that name", "none");
  const Entry& e = it->second;
  TensorView t;
  t.name = name;
  t.file = path_;
  t.dtype = e.dtype;
  t.shape = e.shape;
  t.data = base_ + e.begin;
  t.nbytes = e.end - e.begin;
  t.owner = keep_;
  return t;
}

void SafetensorsFile::release(const TensorView& t) const noexcept {
  // Only our own mappings (keep_ is set by open(), not parse()), only bytes inside this file.
  const auto* p = static_cast<const uint8_t*>(t.data);
  if (!keep_ || !p || p < base_ || t.nbytes > size_ || p - base_ > static_cast<ptrdiff_t>(size_ - t.nbytes)) return;
  MappedFile::drop_pages(p, t.nbytes);
}

// ---- TensorStore -------------------------------------------------------------------------

namespace {
bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
}  // namespace

std::map<std::string, std::string> parse_safetensors_index(const std::string& text, const std::string& index) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error::mismatch(ErrorCode::format, index, "", "valid JSON", "malformed JSON");
  if (!j.is_object()) throw Error::mismatch(ErrorCode::format, index, "", "a JSON object", j.type_name());
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object())
    throw Error::mismatch(ErrorCode::format, index, "weight_map", "an object", wm == j.end() ? "none" : wm->type_name());
  std::map<std::string, std::string> out;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      throw Error::mismatch(ErrorCode::format, index, it.key(), "a shard file name", it.value().type_name());
    const std::string fn = it.value().get<std::string>();
    // Shards live beside the index: a name with a path separator could reach any file.
    if (fn.empty() || fn.find('/') != std::string::npos || fn == "." || fn == "..")
      throw Error::mismatch(ErrorCode::format, index, it.key(), "a file name in the model directory", "\"" + fn + "\"");
    out[it.key()] = fn;
  }
  return out;
}

TensorStore TensorStore::open_dir(const std::string& dir) {
  if (!dir_exists(dir)) throw Error::mismatch(ErrorCode::io, dir, "", "a model directory", "no such directory");
  TensorStore s;
  s.dir_ = dir;
  const std::string index = path_join(dir, "model.safetensors.index.json");
  if (file_exists(index)) {
    s.index_path_ = index;
    std::map<std::string, bool> checked;
    for (const auto& [tensor, fn] : parse_safetensors_index(read_file(index), index)) {
      const std::string p = path_join(dir, fn);
      if (!checked.count(p)) {
        if (!file_exists(p)) throw Error::mismatch(ErrorCode::io, index, tensor, "shard file " + p, "no such file");
        checked[p] = true;
      }
      s.weight_map_[tensor] = p;
    }
    return s;
  }
  std::string single = path_join(dir, "model.safetensors");
  if (!file_exists(single)) {
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& de : std::filesystem::directory_iterator(dir, ec))
      if (de.is_regular_file(ec) && ends_with(de.path().filename().string(), ".safetensors"))
        found.push_back(de.path().string());
    if (found.empty())
      throw Error::mismatch(ErrorCode::io, dir, "", "model.safetensors, model.safetensors.index.json or one *.safetensors",
                            "none");
    if (found.size() > 1) {
      std::sort(found.begin(), found.end());
      throw Error::mismatch(ErrorCode::format, dir, "", "one *.safetensors file (or an index)",
                            std::to_string(found.size()) + " files (" + basename_of(found[0]) + ", " +
                                basename_of(found[1]) + ", ...)");
    }
    single = found[0];
  }
  auto f = SafetensorsFile::open(single);
  s.files_[single] = f;
  for (const auto& n : f->names()) s.weight_map_[n] = single;
  return s;
}

std::shared_ptr<SafetensorsFile> TensorStore::file(const std::string& path) const {
  auto it = files_.find(path);
  if (it != files_.end()) return it->second;
  auto f = SafetensorsFile::open(path);
  files_[path] = f;
  return f;
}

bool TensorStore::has(const std::string& name) const { return weight_map_.count(name) != 0; }

TensorView TensorStore::get(const std::string& name) const {
  const std::string& where = index_path_.empty() ? dir_ : index_path_;
  auto it = weight_map_.find(name);
  if (it == weight_map_.end()) throw Error::mismatch(ErrorCode::format, where, name, "a tensor of that name", "none");
  auto f = file(it->second);
  if (!f->has(name))
    throw Error::mismatch(ErrorCode::format, where, name, "tensor in shard " + basename_of(it->second),
                          "not in that file");
  return f->get(name);
}

void TensorStore::release(const TensorView& t) const noexcept {
  const auto it = files_.find(t.file);  // a view from get() names the shard it came from
  if (it != files_.end()) it->second->release(t);
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> v;
  v.reserve(weight_map_.size());
  for (const auto& [k, _] : weight_map_) v.push_back(k);
  return v;
}

size_t TensorStore::total_bytes() const {
  size_t total = 0;
  for (const auto& [k, _] : weight_map_) total += get(k).nbytes;
  return total;
}

}  // namespace awqx

// safetensors reading (mmap, validated) and writing (atomic, sharded).
// Reading validates everything before any tensor byte is touched: header length vs file size,
// header JSON, known dtypes, data_offsets inside the data region, ordered and non-overlapping,
// shape × dtype size == byte span (overflow-checked). Errors name the file and the tensor.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "awqx/tensor.hpp"

namespace awqx {

class MappedFile;  // io/mapped_file.hpp (internal)

class SafetensorsFile {
 public:
  // Throws Error{io} if missing/unreadable, Error{format|dtype|shape} if invalid.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  // Parses a file already in memory (used by the fuzzer and tests); the buffer must outlive views.
  static std::shared_ptr<SafetensorsFile> parse(const std::string& name, const void* data, size_t size);

  const std::string& path() const noexcept { return path_; }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  std::vector<std::string> names() const;                     // in file order
  TensorView get(const std::string& name) const;              // Error{format} if absent
  // Drops the resident pages of a view from get() on a file opened with open() (a no-op for any
  // other view or for parse()d buffers); the view stays valid and re-reads from the file. Call
  // after copying the data out, so loading does not hold a tensor twice. Thread-compatible.
  void release(const TensorView& t) const noexcept;
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  size_t file_size() const noexcept { return size_; }

 private:
  std::string path_;
  std::shared_ptr<const void> keep_;  // mapping
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    size_t begin, end;  // absolute offsets into the file
  };
  std::map<std::string, Entry> index_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> metadata_;
  friend struct SafetensorsParser;
};

// All tensors of a model folder: model.safetensors, or model.safetensors.index.json + shards,
// or any single *.safetensors file in the folder. Shards are opened lazily.
class TensorStore {
 public:
  static TensorStore open_dir(const std::string& dir);  // Error{io} if no safetensors found
  bool has(const std::string& name) const;
  TensorView get(const std::string& name) const;       // Error{format} naming index + tensor if absent
  // SafetensorsFile::release on the shard the view came from (no-op for views from elsewhere).
  void release(const TensorView& t) const noexcept;
  std::vector<std::string> names() const;
  const std::string& dir() const noexcept { return dir_; }
  size_t total_bytes() const;  // sum of tensor bytes

 private:
  std::string dir_;
  std::string index_path_;                          // "" for a single-file model
  std::map<std::string, std::string> weight_map_;  // tensor -> file path
  mutable std::map<std::string, std::shared_ptr<SafetensorsFile>> files_;
  std::shared_ptr<SafetensorsFile> file(const std::string& path) const;
};

// Writes tensors to one safetensors file atomically (tmp + fsync + rename). Tensors are written
// in the order given; metadata goes to "__metadata__".
void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes a model's tensors into dir as model.safetensors (if all fit in shard_size bytes) or as
// model-0000i-of-0000n.safetensors + model.safetensors.index.json. Each file atomic.
// Returns the file names written.
std::vector<std::string> write_safetensors_sharded(const std::string& dir, const std::vector<TensorView>& tensors,
                                                   size_t shard_size_bytes);

// "5GB", "500MB", "1GiB", "123" -> bytes. Error{invalid_argument} naming `flag` otherwise.
size_t parse_size(const std::string& s, const std::string& flag = "--shard-size");

}  // namespace awqx

// Read-only memory mapping of a whole file (RAII, move-only).
#pragma once
#include <cstddef>
#include <string>

namespace awqx {

class MappedFile {
 public:
  // Maps `path` read-only. Error{io} naming the path if it cannot be opened/mapped.
  // An empty file gives data() == nullptr, size() == 0.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const void* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }

 private:
  void release() noexcept;
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace awqx

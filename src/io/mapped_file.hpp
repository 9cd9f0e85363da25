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

  // Drops the resident pages of [p, p + n) (a range inside some read-only MAP_PRIVATE file
  // mapping, such as one of ours) that lie wholly inside it; pages shared with neighbouring bytes
  // stay. The bytes stay readable: a later access faults them back in from the file (page cache).
  // For data already copied out (repacked int4 weights), so the process does not hold the file's
  // pages and the repacked copy at once. Best effort: failures are ignored.
  static void drop_pages(const void* p, size_t n) noexcept;

 private:
  void release() noexcept;
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace awqx

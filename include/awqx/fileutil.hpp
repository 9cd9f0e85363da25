// Files that appear whole or not at all: write to "<path>.tmp.<pid>", fsync, rename.
// Directories the same way: build in "<dir>.tmp", rename when complete.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace awqx {

// Whole file into memory. Error{io} naming the path if missing/unreadable.
std::string read_file(const std::string& path);
// Offset of the first byte that does not start a valid UTF-8 sequence (overlong forms,
// surrogates and > U+10FFFF are invalid), or std::string_view::npos when all of `s` is UTF-8.
size_t utf8_invalid_offset(std::string_view s) noexcept;
// read_file + a UTF-8 check: Error{format} naming the path and `field` (e.g. "--data") with
// the offending byte and its offset. For text inputs the tokenizer would otherwise silently
// encode as raw bytes (a wrong file, e.g. a binary or Latin-1 text, would give a junk result).
std::string read_text_file(const std::string& path, const std::string& field);
bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);

// Atomically replaces `path` with `contents` (tmp + fsync + rename + fsync of the directory).
// On any failure (e.g. disk full) the tmp file is removed and Error{io} names `path`.
void write_file_atomic(const std::string& path, std::string_view contents);

class AtomicFileWriter {  // streaming variant for large outputs
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();  // not committed -> tmp removed
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void write(const void* data, size_t n);  // Error{io} on failure (ENOSPC...)
  void commit();                           // fsync + rename
 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Builds the folder `dir` whole or not at all: `fill(tmp)` writes into "<dir>.tmp" (a stale one
// from an interrupted run is removed first), which is then renamed to `dir` (replacing an
// existing `dir`, which callers only allow with --overwrite) and the parent fsynced. On any
// exception "<dir>.tmp" is removed and the exception propagates: nothing is left behind.
// `field` names the flag in errors (e.g. "--out").
// Its last step, shared with quantize (whose failure path keeps resume files): replaces `dir`
// (if present) by the finished `tmp`, then fsyncs the parent.
void commit_dir(const std::string& tmp, const std::string& dir, const std::string& field);
void build_dir_atomic(const std::string& dir, const std::string& field, const std::function<void(const std::string& tmp)>& fill);

void fsync_dir(const std::string& dir);
void remove_all(const std::string& path) noexcept;  // rm -rf, ignores errors
std::string path_join(const std::string& a, const std::string& b);
std::string basename_of(const std::string& path);

}  // namespace awqx

// All-or-nothing file output: write "<path>.tmp.<pid>", fsync, rename, fsync the directory.
#include "awqx/fileutil.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "awqx/error.hpp"

namespace awqx {

namespace {
Error io_error(const std::string& path, const std::string& what, int err) {
  return Error(ErrorCode::io, path, "", what + ": " + std::strerror(err));
}
std::string dirname_of(const std::string& path) {
  const auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}
}  // namespace

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_error(path, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error::mismatch(ErrorCode::io, path, "", "a readable file", "a directory or unreadable entry");
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw io_error(path, "read failed", e);
    }
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

size_t utf8_invalid_offset(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    size_t len;
    unsigned min;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000;
    } else {
      return i;
    }
    if (i + len > n) return i;
    unsigned cp = c & (0x7F >> len);
    for (size_t j = 1; j < len; ++j) {
      if ((p[i + j] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string read_text_file(const std::string& path, const std::string& field) {
  std::string text = read_file(path);
  if (const size_t bad = utf8_invalid_offset(text); bad != std::string::npos) {
    char found[64];
    std::snprintf(found, sizeof found, "invalid byte 0x%02x at offset %zu", static_cast<unsigned char>(text[bad]), bad);
    throw Error::mismatch(ErrorCode::format, path, field, "UTF-8 text", found);
  }
  return text;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool dir_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw io_error(dir, "cannot open directory", errno);
  // Some filesystems (tmpfs, network) reject fsync on a directory; the rename is still done.
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    const int e = errno;
    ::close(fd);
    throw io_error(dir, "fsync of directory failed", e);
  }
  ::close(fd);
}

void remove_all(const std::string& path) noexcept {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty() || (!b.empty() && b[0] == '/')) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string basename_of(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const auto pos = p.find_last_of('/');
  return pos == std::string::npos ? p : p.substr(pos + 1);
}

// ---- AtomicFileWriter --------------------------------------------------------------------

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw io_error(path_, "cannot create " + tmp_, errno);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t n) {
  if (fd_ < 0) throw Error(ErrorCode::io, path_, "", "write after failure or commit");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      // Drop the partial output right away: a full disk must not stay full because of us.
      ::close(fd_);
      fd_ = -1;
      ::unlink(tmp_.c_str());
      throw io_error(path_, "write failed", e);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFileWriter::commit() {
  if (fd_ < 0) throw Error(ErrorCode::io, path_, "", "commit after failure or commit");
  auto fail = [&](const char* what) {
    const int e = errno;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ::unlink(tmp_.c_str());
    throw io_error(path_, what, e);
  };
  if (::fsync(fd_) != 0) fail("fsync failed");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close failed");  // NFS/quota errors can surface at close
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("rename failed");
  committed_ = true;
  fsync_dir(dirname_of(path_));
}

void commit_dir(const std::string& tmp, const std::string& dir, const std::string& field) {
  namespace fs = std::filesystem;
  if (fs::exists(dir)) remove_all(dir);
  std::error_code ec;
  fs::rename(tmp, dir, ec);
  if (ec) throw Error::mismatch(ErrorCode::io, dir, field, "a rename of the finished folder", ec.message());
  const std::string parent = fs::path(dir).parent_path().string();
  fsync_dir(parent.empty() ? "." : parent);
}

void build_dir_atomic(const std::string& dir, const std::string& field, const std::function<void(const std::string&)>& fill) {
  namespace fs = std::filesystem;
  const std::string tmp = dir + ".tmp";
  remove_all(tmp);
  std::error_code ec;
  fs::create_directories(tmp, ec);
  if (ec) throw Error::mismatch(ErrorCode::io, tmp, field, "a writable location", ec.message());
  try {
    fill(tmp);
    commit_dir(tmp, dir, field);
  } catch (...) {
    remove_all(tmp);
    throw;
  }
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFileWriter w(path);
  w.write(contents.data(), contents.size());
  w.commit();
}

}  // namespace awqx

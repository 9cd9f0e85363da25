// One self-overwriting progress line on stderr for long CLI work (loading, ppl windows...).
// Quiet when stderr is not a terminal, so logs and pipes stay clean.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace awqx::cli {

class ProgressLine {
 public:
  explicit ProgressLine(std::string what) : what_(std::move(what)), tty_(isatty(STDERR_FILENO) != 0) {}
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine() { done(); }

  void operator()(int64_t done, int64_t total) {
    if (!tty_) return;
    std::fprintf(stderr, "\r%s %lld/%lld\x1b[K", what_.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total));
    std::fflush(stderr);
    shown_ = true;
  }
  // Ends the line (the next output starts on a fresh line).
  void done() {
    if (shown_) std::fputs("\r\x1b[K", stderr);
    shown_ = false;
  }

 private:
  std::string what_;
  bool tty_ = false, shown_ = false;
};

}  // namespace awqx::cli

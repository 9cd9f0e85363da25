#include "engine/stop_text.hpp"

#include <algorithm>

namespace awqx::engine {
namespace {
// Largest i <= n such that s[0, i) ends on a UTF-8 character boundary.
size_t utf8_floor(const std::string& s, size_t n) {
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}
}  // namespace

StopText::StopText(std::vector<std::string> stops) : stops_(std::move(stops)) {
  stops_.erase(std::remove(stops_.begin(), stops_.end(), std::string()), stops_.end());
  for (const std::string& s : stops_) hold_ = std::max(hold_, s.size() - 1);
}

std::string StopText::push(const std::string& piece) {
  if (hit_) return {};
  held_ += piece;
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    hit_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  if (held_.size() <= hold_) return {};
  const size_t cut = utf8_floor(held_, held_.size() - hold_);
  std::string out = held_.substr(0, cut);
  held_.erase(0, cut);
  return out;
}

std::string StopText::flush() {
  if (hit_) return {};
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace awqx::engine

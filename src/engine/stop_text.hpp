// Stop strings over streamed text: text is released only once no stop string can still start in
// it, so a client never sees the beginning of a stop string that later completes. Release points
// are moved back to UTF-8 character boundaries (a JSON string must not carry half a character).
#pragma once
#include <string>
#include <vector>

namespace awqx::engine {

class StopText {
 public:
  explicit StopText(std::vector<std::string> stops);
  // Appends a decoded piece; returns the text now safe to emit. hit() is true once a stop string
  // appeared: the returned text then ends right before it and later pushes return nothing.
  std::string push(const std::string& piece);
  std::string flush();  // at the end of generation: everything still held back
  bool hit() const noexcept { return hit_; }

 private:
  std::vector<std::string> stops_;
  size_t hold_ = 0;  // longest stop string - 1: bytes that may be the start of a stop string
  std::string held_;
  bool hit_ = false;
};

}  // namespace awqx::engine

// Internals of the BPE engine (bpe_merge.cpp, bpe_tokenizer.cpp).
#pragma once
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/bpe.hpp"

namespace awqx::tok {

// A compiled PCRE2 pattern (UTF + UCP; invalid UTF-8 in the subject is never matched).
class Regex {
 public:
  Regex(const std::string& pattern, const std::string& source);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Appends the pieces of `text`: every match, and every run of bytes between matches.
  // The pieces concatenate back to `text`. Thread-safe.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  pcre2_code* code_ = nullptr;
  bool jit_ = false;
};

struct BpeCore {
  BpeSpec spec;
  PieceMap mergeable;  // normal pieces: the targets of concat-mode merges
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merge_map;  // (a,b) -> (rank, merged)

  // Priority (lower is better) and result of merging ids a, b; false if they do not merge.
  bool pair(int32_t a, int32_t b, double& prio, int32_t& merged) const;
  // Merges the symbol ids in place (negative ids never merge).
  void merge(std::vector<int32_t>& ids) const;
};

}  // namespace awqx::tok

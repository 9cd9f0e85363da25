// The BPE merge loop and its helpers: GPT-2's byte alphabet, regex pre-splitting (PCRE2),
// merges derived from SentencePiece scores.
#include <algorithm>
#include <limits>
#include <queue>
#include <tuple>

#include "awqx/error.hpp"
#include "tokenizer/bpe_impl.hpp"
#include "tokenizer/tokenizer_internal.hpp"

namespace awqx::tok {

// Regexes from the reference tokenizers (see ../shared/models/PROVENANCE.md).
const char* const kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const std::vector<uint32_t>& byte_to_unicode() {
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(256);
    uint32_t extra = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[b] = printable ? b : extra++;
    }
    return t;
  }();
  return table;
}

bool unicode_to_bytes(std::string_view s, std::string& out) {
  static const std::vector<int> inverse = [] {
    std::vector<int> inv(512, -1);
    const auto& t = byte_to_unicode();
    for (int b = 0; b < 256; ++b) inv[t[b]] = b;
    return inv;
  }();
  out.clear();
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_valid_len(s, i);
    if (n == 0) return false;
    uint32_t cp = static_cast<unsigned char>(s[i]);
    if (n > 1) {
      cp &= (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
      for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if (cp >= 512 || inverse[cp] < 0) return false;
    out += static_cast<char>(inverse[cp]);
    i += n;
  }
  return true;
}

std::string bytes_to_unicode_str(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, byte_to_unicode()[static_cast<unsigned char>(c)]);
  return out;
}

// ---- regex pre-splitting --------------------------------------------------------------------

Regex::Regex(const std::string& pattern, const std::string& source) {
  int err = 0;
  PCRE2_SIZE off = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr);
  if (!code_) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw Error(ErrorCode::format, source, "pre_tokenizer.pattern",
                "expected a valid regex, found error at offset " + std::to_string(off) + ": " +
                    reinterpret_cast<const char*>(msg));
  }
  // JIT is an optimisation only; the interpreter gives the same matches.
  jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  if (code_) pcre2_code_free(code_);
}

namespace {
// Per-thread match context: a JIT stack large enough for long runs of one character class
// (the default 32 KiB gives up on ~10k spaces) and a match limit, so a hostile pattern from a
// tokenizer.json costs bounded time per match instead of catastrophic backtracking.
struct MatchEnv {
  pcre2_match_context* ctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchEnv() {
    ctx = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
    if (ctx && stack) pcre2_jit_stack_assign(ctx, nullptr, stack);
    if (ctx) {
      pcre2_set_match_limit(ctx, 1000000);
      pcre2_set_depth_limit(ctx, 100000);
    }
  }
  ~MatchEnv() {
    if (stack) pcre2_jit_stack_free(stack);
    if (ctx) pcre2_match_context_free(ctx);
  }
};
}  // namespace

void Regex::split(std::string_view text, std::vector<std::string_view>& out) const {
  thread_local MatchEnv env;
  // Per call match data keeps encode() thread-safe.
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
  if (!md) throw Error(ErrorCode::internal, "", "pcre2", "out of memory");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, gap = 0;
  while (pos < text.size()) {
    const int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), pos, 0, md, env.ctx)
                        : pcre2_match(code_, subject, text.size(), pos, 0, md, env.ctx);
    if (rc < 0) break;  // no match (or a resource limit): the rest stays one piece
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t s = ov[0], e = ov[1];
    if (s < pos || e < s || e > text.size()) break;
    if (e == s) {
      // Empty match: step one byte and keep it in the gap so nothing is lost.
      pos = s + 1;
      continue;
    }
    // Bytes no alternative matched (e.g. invalid UTF-8) form their own piece.
    if (s > gap) out.push_back(text.substr(gap, s - gap));
    out.push_back(text.substr(s, e - s));
    pos = gap = e;
  }
  if (gap < text.size()) out.push_back(text.substr(gap));
  pcre2_match_data_free(md);
}

// ---- merge loop -------------------------------------------------------------------------------

bool BpeCore::pair(int32_t a, int32_t b, double& prio, int32_t& merged) const {
  if (a < 0 || b < 0) return false;
  if (spec.pair_mode == PairMode::merges) {
    const auto it = merge_map.find((static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b));
    if (it == merge_map.end()) return false;
    prio = it->second.first;
    merged = it->second.second;
    return true;
  }
  thread_local std::string buf;
  buf.assign(spec.pieces[a]);
  buf += spec.pieces[b];
  const auto it = mergeable.find(std::string_view(buf));
  if (it == mergeable.end()) return false;
  merged = it->second;
  prio = spec.pair_mode == PairMode::rank_by_concat ? static_cast<double>(merged)
                                                     : -static_cast<double>(spec.scores[merged]);
  return true;
}

void BpeCore::merge(std::vector<int32_t>& ids) const {
  // Callers use other negative ids for symbols outside the vocabulary.
  constexpr int32_t kDead = std::numeric_limits<int32_t>::min();
  const int32_t n = static_cast<int32_t>(ids.size());
  if (n < 2) return;
  std::vector<int32_t> prev(n), next(n);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    double prio;
    int32_t left, lid, rid, merged;
  };
  // Best priority first; on ties the leftmost pair (smaller original index) wins.
  auto worse = [](const Cand& x, const Cand& y) { return std::tie(x.prio, x.left) > std::tie(y.prio, y.left); };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> heap(worse);
  auto consider = [&](int32_t l) {
    if (l < 0 || next[l] < 0) return;
    double p;
    int32_t m;
    if (pair(ids[l], ids[next[l]], p, m)) heap.push({p, l, ids[l], ids[next[l]], m});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int32_t r = next[c.left];
    // Stale entry: one side was merged since it was pushed.
    if (r < 0 || ids[c.left] != c.lid || ids[r] != c.rid) continue;
    ids[c.left] = c.merged;
    ids[r] = kDead;
    next[c.left] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.left;
    consider(prev[c.left]);
    consider(c.left);
  }
  size_t w = 0;
  for (int32_t i = 0; i < n; ++i)
    if (ids[i] != kDead) ids[w++] = ids[i];
  ids.resize(w);
}

std::vector<std::pair<int32_t, int32_t>> merges_from_scores(const BpeSpec& spec) {
  PieceMap map;
  const int32_t n = static_cast<int32_t>(spec.pieces.size());
  for (int32_t i = 0; i < n; ++i)
    if (spec.types[i] == TokenType::normal) map.emplace(spec.pieces[i], i);
  struct M {
    float score;
    int32_t merged;
    size_t split;
    int32_t a, b;
  };
  std::vector<M> all;
  for (int32_t id = 0; id < n; ++id) {
    if (spec.types[id] != TokenType::normal) continue;
    const std::string& p = spec.pieces[id];
    for (size_t k = 1; k < p.size(); ++k) {
      const auto ia = map.find(std::string_view(p).substr(0, k));
      if (ia == map.end()) continue;
      const auto ib = map.find(std::string_view(p).substr(k));
      if (ib == map.end()) continue;
      all.push_back({spec.scores[id], id, k, ia->second, ib->second});
    }
  }
  std::sort(all.begin(), all.end(), [](const M& x, const M& y) {
    if (x.score != y.score) return x.score > y.score;
    if (x.merged != y.merged) return x.merged < y.merged;
    return x.split < y.split;
  });
  std::vector<std::pair<int32_t, int32_t>> out;
  out.reserve(all.size());
  for (const auto& m : all) out.emplace_back(m.a, m.b);
  return out;
}

}  // namespace awqx::tok

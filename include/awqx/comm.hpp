// A group of cooperating processes (MPI ranks) for `quantize` and `ppl` across machines.
// The library never links MPI: it computes through this interface, and the CLI (built with
// AWQX_MPI) passes an MPI-backed one; a library user may pass their own. Every collective is
// called by all ranks in the same order; results are the same bytes on every rank.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace awqx {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank's bytes concatenated in rank order (counts may differ), on every rank.
  virtual std::vector<uint8_t> allgather(const void* data, size_t bytes) = 0;
  // Root's bytes on every rank.
  virtual void broadcast(std::vector<uint8_t>& data, int root) = 0;
  // Set by run_agreed on the rank that rethrows the failure: every other rank knows of it, so
  // the job can end normally instead of aborting ranks that wait in a collective.
  bool failure_agreed = false;
};

// Thrown on the ranks that did not fail when another rank did (that rank reports the error).
class RankFailed : public std::exception {
 public:
  explicit RankFailed(int rank) : rank_(rank), msg_("rank " + std::to_string(rank) + " failed") {}
  int rank() const noexcept { return rank_; }
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  int rank_;
  std::string msg_;
};

// The one-process group (size 1): what quantize/ppl use when no Comm is given.
Comm& local_comm();

// [begin, end) of n items owned by `rank` of `size`: contiguous, sizes differ by at most one.
struct Share {
  int64_t begin = 0, end = 0;
  int64_t count() const { return end - begin; }
};
Share share_of(int64_t n, int rank, int size);

// Typed allgather of trivially copyable values (rank order).
template <class T>
std::vector<T> allgather_values(Comm& c, const std::vector<T>& mine) {
  const std::vector<uint8_t> raw = c.allgather(mine.data(), mine.size() * sizeof(T));
  std::vector<T> out(raw.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), raw.data(), out.size() * sizeof(T));
  return out;
}

// Lowest rank whose `ok` is false, or -1 when all are ok (a collective: every rank calls it).
int first_failed_rank(Comm& c, bool ok);

// Runs fn (which calls no collective) on every rank, then agrees: when some rank threw, the
// lowest such rank rethrows its exception and the others throw RankFailed. A rank failing alone
// (a full disk on rank 0) thus stops every rank cleanly, none left waiting.
template <class Fn>
void run_agreed(Comm& c, Fn&& fn) {
  std::exception_ptr err;
  try {
    fn();
  } catch (...) {
    err = std::current_exception();
  }
  if (c.size() == 1) {
    if (err) std::rethrow_exception(err);
    return;
  }
  const int first = first_failed_rank(c, !err);
  if (first < 0) return;
  if (first == c.rank()) {
    c.failure_agreed = true;
    std::rethrow_exception(err);
  }
  throw RankFailed(first);
}

}  // namespace awqx

// The one threading seam: parallel_for over [begin, end) in chunks of `grain`.
// OpenMP static schedule, so a given index always lands on the same thread for a given
// thread count; callers reduce each output in one thread, in a fixed order, so results do not
// depend on the thread count. Nothing may throw out of fn (kernels never throw).
#pragma once
#include <cstdint>
#include <algorithm>
#include <exception>
#include <omp.h>

namespace awqx {

// Threads used by every parallel region (set once from --threads; default = physical cores).
void set_num_threads(int n);
int num_threads();
int physical_cores();

template <class Fn>
void parallel_for(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
  if (end <= begin) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (end - begin + grain - 1) / grain;
  const int nt = static_cast<int>(std::min<int64_t>(chunks, num_threads()));
  if (nt <= 1 || omp_in_parallel()) {
    fn(begin, end);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = begin + c * grain;
    fn(b, std::min(end, b + grain));
  }
}

// parallel_for for a body that may throw: the first exception is kept and rethrown after the
// loop (an exception must not leave an OpenMP region).
template <class Fn>
void parallel_for_rethrow(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
  std::exception_ptr failed;
  parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    try {
      fn(b, e);
    } catch (...) {
#pragma omp critical(awqx_parallel_for_rethrow)
      if (!failed) failed = std::current_exception();
    }
  });
  if (failed) std::rethrow_exception(failed);
}

}  // namespace awqx

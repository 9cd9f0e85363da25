// Helpers shared by the q4r16x8 kernels (no intrinsics here: included from any ISA folder).
#pragma once
#include <cstdint>
#include <vector>

#include "awqx/kernels.hpp"

namespace awqx::kernels {

// Per-(row, group) sums of x: xsum[i*groups + g] = Σ_{c in group g} x[i][c], in a fixed order
// (so results do not depend on the thread count). Used to apply zero points once per group:
// Σ x·(q − z)·s = s·(Σ x·q − z·Σ x).
inline void group_sums(const float* x, int64_t m, int64_t k, int group, std::vector<float>& out) {
  const int64_t groups = k / group;
  out.resize(static_cast<size_t>(m * groups));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t g = 0; g < groups; ++g) {
      float s = 0.f;
      const float* xp = x + i * k + g * group;
      for (int c = 0; c < group; ++c) s += xp[c];
      out[static_cast<size_t>(i * groups + g)] = s;
    }
}

// Threads split the 16-row tiles into contiguous ranges (disjoint weight bytes per thread);
// chunk of a few tiles keeps the static schedule balanced for small n.
inline int64_t tile_grain(int64_t tiles, int threads) {
  const int64_t per = (tiles + threads - 1) / (threads > 0 ? threads : 1);
  return per < 1 ? 1 : per;
}

}  // namespace awqx::kernels

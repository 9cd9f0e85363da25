// 64-byte aligned bytes that grow only: per-thread kernel scratch (AMX weight tiles, the FP
// GEMV's padded copy of x), reused across calls so a hot path does not allocate.
#pragma once
#include <cstddef>
#include <cstdint>

#include "awqx/kernels.hpp"

namespace awqx::kernels {

struct GrowingBuffer {
  AlignedBytes buf;
  size_t cap = 0;
  uint8_t* get(size_t bytes) {  // contents are not kept when it grows, nor zeroed
    if (bytes > cap) {
      buf = aligned_alloc_untouched(bytes);
      cap = bytes;
    }
    return buf.get();
  }
};

}  // namespace awqx::kernels

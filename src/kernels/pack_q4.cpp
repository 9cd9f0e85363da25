// Packing Q4Weights (q4n) into the kernels' formats; layouts are documented in
// include/awqx/kernels.hpp. Plain C++ (no ISA flags): runs on any x86-64.
#include <cstdlib>
#include <cstring>
#include <new>

#include "awqx/error.hpp"
#include "awqx/kernels.hpp"
#include "awqx/parallel.hpp"
#include "kernels/q4r_common.hpp"

namespace awqx::kernels {

PackedQ4 pack_q4n(const Q4Weights& w) {
  w.validate("", "q4 weights");
  PackedQ4 p;
  p.hdr = PackedHeader{PackedFormat::q4n, 4, w.n, w.k, w.n, w.group_size, w.zero_point, 1, 2, 1};
  p.natural.n = w.n;
  p.natural.k = w.k;
  p.natural.group_size = w.group_size;
  p.natural.zero_point = w.zero_point;
  p.natural.qdata = w.qdata;
  p.natural.scales = w.scales;
  p.natural.zeros = w.zeros;
  p.bias = w.bias;
  return p;
}

PackedQ4 pack_q4r16x8(const Q4Weights& w) {
  w.validate("", "q4 weights");
  if (w.k % 8 != 0)
    throw Error::mismatch(ErrorCode::shape, "", "k", "a multiple of 8 for format q4r16x8", std::to_string(w.k));
  constexpr int kNr = 16;
  PackedQ4 p;
  const int64_t n_pad = (w.n + kNr - 1) / kNr * kNr;
  const int64_t tiles = n_pad / kNr, groups = w.groups(), kb = w.k / 8;
  p.hdr = PackedHeader{PackedFormat::q4r16x8, 4, w.n, w.k, n_pad, w.group_size, w.zero_point, kNr, 8, 1};
  const size_t q_bytes = static_cast<size_t>(n_pad) * static_cast<size_t>(w.k) / 2;
  const size_t s_bytes = static_cast<size_t>(n_pad * groups) * sizeof(float);
  const size_t z_bytes = static_cast<size_t>(n_pad * groups);
  p.q_off = 0;
  p.s_off = (q_bytes + 63) / 64 * 64;
  p.z_off = p.s_off + (s_bytes + 63) / 64 * 64;
  p.data_bytes = q_bytes + s_bytes + z_bytes;
  // First-touch placement: the buffer is allocated untouched and each tile (its q block, scales
  // and zeros, all tile-contiguous) is zeroed and filled by the thread that will read it, using
  // the kernels' own partition (parallel_for over tiles with tile_grain, static schedule, so tile
  // t lands on the same thread in pack and in gemv/gemm for a given thread count). On a
  // multi-socket machine Linux then places each page on the node of the thread that reads it.
  // (Only the q4r16x8 kernels partition by tiles; q4n/ref and oneDNN do not get this.)
  const size_t total = (p.z_off + z_bytes + 63) / 64 * 64;
  p.data = aligned_alloc_untouched(total);  // THP-advised when large; placement by first touch
  uint8_t* q = p.data.get();
  float* s = reinterpret_cast<float*>(p.data.get() + p.s_off);
  uint8_t* z = p.data.get() + p.z_off;
  // Alignment gaps between the regions (never read by kernels): zeroed for deterministic bytes.
  std::memset(q + q_bytes, 0, p.s_off - q_bytes);
  std::memset(p.data.get() + p.s_off + s_bytes, 0, p.z_off - p.s_off - s_bytes);
  std::memset(z + z_bytes, 0, total - p.z_off - z_bytes);
  const size_t tile_q = static_cast<size_t>(kb) * 64, tile_g = static_cast<size_t>(groups) * kNr;
  parallel_for(0, tiles, tile_grain(tiles, num_threads()), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      // Padding rows stay q = 0, zero = 0, scale = 0.
      std::memset(q + t * tile_q, 0, tile_q);
      std::memset(s + t * tile_g, 0, tile_g * sizeof(float));
      std::memset(z + t * tile_g, 0, tile_g);
      for (int64_t r = 0; r < kNr; ++r) {
        const int64_t row = t * kNr + r;
        if (row >= w.n) break;
        for (int64_t b = 0; b < kb; ++b) {
          uint8_t* blk = q + (t * kb + b) * 64 + r * 4;
          for (int j = 0; j < 4; ++j)
            blk[j] = static_cast<uint8_t>(w.q(row, 8 * b + j) | (w.q(row, 8 * b + 4 + j) << 4));
        }
        for (int64_t g = 0; g < groups; ++g) {
          s[(t * groups + g) * kNr + r] = w.scales[static_cast<size_t>(row * groups + g)];
          z[(t * groups + g) * kNr + r] = w.zeros[static_cast<size_t>(row * groups + g)];
        }
      }
    }
  });
  p.bias = w.bias;
  return p;
}

}  // namespace awqx::kernels

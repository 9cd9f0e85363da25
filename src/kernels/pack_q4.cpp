// Packing Q4Weights (q4n) into the kernels' formats; layouts are documented in
// include/awqx/kernels.hpp. Plain C++ (no ISA flags): runs on any x86-64.
#include "awqx/error.hpp"
#include "awqx/kernels.hpp"

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
  p.data = aligned_alloc_bytes(p.z_off + z_bytes);
  uint8_t* q = p.data.get();
  float* s = reinterpret_cast<float*>(p.data.get() + p.s_off);
  uint8_t* z = p.data.get() + p.z_off;
  for (int64_t t = 0; t < tiles; ++t) {
    for (int64_t r = 0; r < kNr; ++r) {
      const int64_t row = t * kNr + r;
      if (row >= w.n) continue;  // padding rows stay q = 0, zero = 0, scale = 0
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
  p.bias = w.bias;
  return p;
}

}  // namespace awqx::kernels

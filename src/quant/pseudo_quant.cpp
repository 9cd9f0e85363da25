// The AWQ pseudo-quantizer (awq-reference.md §1). Scales are rounded to fp16 before use so the
// dequantized weights equal what a saved checkpoint (fp16 scales) dequantizes to.
#include <algorithm>
#include <cmath>

#include "awqx/half.hpp"
#include "awqx/parallel.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {

namespace {
// fp16 rounding of a scale; the value is finite and >= 1e-5/15 by construction, but a huge
// weight range could overflow fp16: clamp to the largest fp16 so nothing becomes inf.
float f16_scale(float s) { return round_to_f16(std::min(s, 65504.0f)); }
}  // namespace

void quant_group(float* w, int64_t g, const QParams& p, uint8_t* q_out, float* scale_out, uint8_t* zero_out) {
  if (p.zero_point) {
    const float max_int = static_cast<float>((1 << p.w_bit) - 1);
    float mn = w[0], mx = w[0];
    for (int64_t i = 1; i < g; ++i) {
      mn = std::min(mn, w[i]);
      mx = std::max(mx, w[i]);
    }
    const float scale = f16_scale(std::max(mx - mn, 1e-5f) / max_int);
    const float zero = std::clamp(-std::nearbyint(mn / scale), 0.0f, max_int);
    for (int64_t i = 0; i < g; ++i) {
      const float q = std::clamp(std::nearbyint(w[i] / scale) + zero, 0.0f, max_int);
      if (q_out) q_out[i] = static_cast<uint8_t>(q);
      w[i] = (q - zero) * scale;
    }
    if (scale_out) *scale_out = scale;
    if (zero_out) *zero_out = static_cast<uint8_t>(zero);
  } else {
    const float max_int = static_cast<float>((1 << (p.w_bit - 1)) - 1), min_int = -max_int - 1.0f;
    float amax = 0.0f;
    for (int64_t i = 0; i < g; ++i) amax = std::max(amax, std::fabs(w[i]));
    const float scale = f16_scale(std::max(amax, 1e-5f) / max_int);
    for (int64_t i = 0; i < g; ++i) {
      const float q = std::clamp(std::nearbyint(w[i] / scale), min_int, max_int);
      if (q_out) q_out[i] = static_cast<uint8_t>(q - min_int);  // unsigned nibble, implicit zero 8
      w[i] = q * scale;
    }
    if (scale_out) *scale_out = scale;
    if (zero_out) *zero_out = static_cast<uint8_t>(-min_int);
  }
}

void pseudo_quantize(float* w, int64_t n, int64_t k, const QParams& p, Q4Weights* q) {
  const int64_t g = p.group(k), ng = k / g;
  if (q) *q = Q4Weights::empty(n, k, static_cast<int>(g), p.zero_point);
  parallel_for(0, n, 16, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> nib(static_cast<size_t>(g));
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < ng; ++j) {
        float* wg = w + r * k + j * g;
        if (!q) {
          quant_group(wg, g, p, nullptr, nullptr, nullptr);
          continue;
        }
        const size_t gi = static_cast<size_t>(r * ng + j);
        quant_group(wg, g, p, nib.data(), &q->scales[gi], &q->zeros[gi]);
        for (int64_t i = 0; i < g; ++i) q->set_q(r, j * g + i, nib[static_cast<size_t>(i)]);
      }
  });
}

namespace {
constexpr int64_t kSumChunk = 1 << 16;  // fixed chunks: a sum does not depend on the thread count

double sq_err_chunk(const float* a, const float* b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

// Sums of squared differences of consecutive `len`-element spans, each in kSumChunk chunks
// added in order.
std::vector<double> span_sq_err(const float* a, const float* b, int64_t spans, int64_t len) {
  const int64_t per = (len + kSumChunk - 1) / kSumChunk;
  std::vector<double> part(static_cast<size_t>(spans * per), 0.0), out(static_cast<size_t>(spans), 0.0);
  parallel_for(0, spans * per, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t off = c / per * len + c % per * kSumChunk;
      part[static_cast<size_t>(c)] = sq_err_chunk(a + off, b + off, std::min(kSumChunk, len - c % per * kSumChunk));
    }
  });
  for (int64_t sp = 0; sp < spans; ++sp)
    for (int64_t c = 0; c < per; ++c) out[static_cast<size_t>(sp)] += part[static_cast<size_t>(sp * per + c)];
  return out;
}
}  // namespace

double mse(const float* a, const float* b, int64_t n) {
  if (n <= 0) return 0.0;
  return span_sq_err(a, b, 1, n)[0] / static_cast<double>(n);
}

std::vector<double> block_sq_err(const float* a, const float* b, int64_t n_blocks, int64_t per_block) {
  if (n_blocks <= 0 || per_block <= 0) return std::vector<double>(static_cast<size_t>(std::max<int64_t>(n_blocks, 0)));
  return span_sq_err(a, b, n_blocks, per_block);
}

std::vector<double> Blocks::gather(const std::vector<double>& mine) const {
  return comm ? allgather_values(*comm, mine) : mine;
}

}  // namespace awqx::quant

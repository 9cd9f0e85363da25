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

// nearbyint in the default rounding mode (nearest, ties to even) without a libm call, so the
// group loops vectorize (the search quantizes every candidate's weights: billions of values per
// layer). Adding 1.5·2^23 to |x| < 2^22 leaves an integer spacing of 1, so the FPU's rounding
// does the work; the sign is put back for -0.0. Larger |x| come back as they are: every caller
// clamps them to the 4-bit range, where they saturate either way.
inline float round_even(float x) {
  constexpr float kMagic = 12582912.0f, kLimit = 4194304.0f;
  const float a = std::fabs(x);
  return a < kLimit ? std::copysign((a + kMagic) - kMagic, x) : x;
}
}  // namespace

// The per-element loops are branch-free and min/max run in kLanes independent lanes (combined in
// a fixed order, so the result is the same on every run), which lets the compiler vectorize them;
// on GCC the function is also built for AVX2 and AVX-512 and picked at load time.
constexpr int kLanes = 16;

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define AWQX_QUANT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AWQX_QUANT_CLONES
#endif

namespace {
struct Range {
  float mn, mx, amax;
};

Range group_range(const float* w, int64_t g) {
  float mn[kLanes], mx[kLanes], am[kLanes];
  for (int l = 0; l < kLanes; ++l) mn[l] = mx[l] = w[0], am[l] = 0.0f;
  int64_t i = 0;
  for (; i + kLanes <= g; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float v = w[i + l];
      mn[l] = v < mn[l] ? v : mn[l];
      mx[l] = v > mx[l] ? v : mx[l];
      am[l] = std::fabs(v) > am[l] ? std::fabs(v) : am[l];
    }
  for (; i < g; ++i) {
    const float v = w[i];
    mn[0] = v < mn[0] ? v : mn[0];
    mx[0] = v > mx[0] ? v : mx[0];
    am[0] = std::fabs(v) > am[0] ? std::fabs(v) : am[0];
  }
  Range r{mn[0], mx[0], am[0]};
  for (int l = 1; l < kLanes; ++l) {
    r.mn = std::min(r.mn, mn[l]);
    r.mx = std::max(r.mx, mx[l]);
    r.amax = std::max(r.amax, am[l]);
  }
  return r;
}
}  // namespace

AWQX_QUANT_CLONES
void quant_group(float* w, int64_t g, const QParams& p, uint8_t* q_out, float* scale_out, uint8_t* zero_out) {
  const Range rg = group_range(w, g);
  float lo, hi, scale, zero;
  if (p.zero_point) {
    lo = 0.0f;
    hi = static_cast<float>((1 << p.w_bit) - 1);
    scale = f16_scale(std::max(rg.mx - rg.mn, 1e-5f) / hi);
    zero = std::clamp(-round_even(rg.mn / scale), 0.0f, hi);
  } else {
    hi = static_cast<float>((1 << (p.w_bit - 1)) - 1);
    lo = -hi - 1.0f;
    scale = f16_scale(std::max(rg.amax, 1e-5f) / hi);
    zero = 0.0f;
  }
  // q = clamp(round(w / s) + z, lo, hi); w = (q - z) * s. Symmetric: z = 0, nibble q + 8.
  if (!q_out) {
    for (int64_t i = 0; i < g; ++i) {
      const float q = std::min(std::max(round_even(w[i] / scale) + zero, lo), hi);
      w[i] = (q - zero) * scale;
    }
  } else {
    for (int64_t i = 0; i < g; ++i) {
      const float q = std::min(std::max(round_even(w[i] / scale) + zero, lo), hi);
      q_out[i] = static_cast<uint8_t>(q - lo);
      w[i] = (q - zero) * scale;
    }
  }
  if (scale_out) *scale_out = scale;
  if (zero_out) *zero_out = static_cast<uint8_t>(p.zero_point ? zero : -lo);
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

void fake_quantize_scaled(const float* w, int64_t n, int64_t k, const float* s, const QParams& p, float* f32,
                          uint16_t* bf16) {
  const int64_t g = p.group(k), ng = k / g;
  parallel_for(0, n, 16, [&](int64_t r0, int64_t r1) {
    std::vector<float> t(static_cast<size_t>(g));  // one group, in L1
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < ng; ++j) {
        const int64_t o = r * k + j * g;
        const float* sg = s ? s + j * g : nullptr;
        for (int64_t i = 0; i < g; ++i) t[i] = sg ? w[o + i] * sg[i] : w[o + i];
        quant_group(t.data(), g, p, nullptr, nullptr, nullptr);
        if (sg)
          for (int64_t i = 0; i < g; ++i) t[i] = t[i] / sg[i];
        if (f32) std::copy(t.begin(), t.end(), f32 + o);
        if (bf16) round_bf16(t.data(), g, bf16 + o);
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

}  // namespace awqx::quant

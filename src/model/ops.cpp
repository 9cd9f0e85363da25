#include "model/ops.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include <dnnl.hpp>

#include <cstdlib>
#include <string>

#include "awqx/cpu.hpp"
#include "awqx/error.hpp"
#include "awqx/half.hpp"
#include "awqx/parallel.hpp"
#include "model/ops_simd.hpp"

namespace awqx::ops {

namespace {
inline float rms_inv(const float* x, int64_t d, float eps) {
  double ss = 0.0;  // double: the sum of squares of thousands of values loses bits in fp32
  for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(x[i]) * x[i];
  return static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
}
// Dot product with 8 independent partial sums: the compiler vectorizes this without
// -ffast-math (a single accumulator is a serial dependency it may not reorder). The summation
// order is fixed, so results do not depend on threads.
inline float dot_f32(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
}  // namespace

void rmsnorm(const float* x, const float* w, float* y, int64_t m, int64_t d, float eps) {
  parallel_for(0, m, 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * d;
      float* yr = y + r * d;
      const float inv = rms_inv(xr, d, eps);
      for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * w[i];
    }
  });
}

void add_rmsnorm(float* residual, const float* delta, const float* w, float* y, int64_t m, int64_t d, float eps) {
  parallel_for(0, m, 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* xr = residual + r * d;
      const float* dr = delta + r * d;
      for (int64_t i = 0; i < d; ++i) xr[i] += dr[i];
      const float inv = rms_inv(xr, d, eps);
      float* yr = y + r * d;
      for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * w[i];
    }
  });
}

RopeTable::RopeTable(int head_dim, float theta, const RopeScaling& scaling, int64_t max_pos) : head_dim_(head_dim) {
  AWQX_CHECK(head_dim > 0 && head_dim % 2 == 0);
  const int half = head_dim / 2;
  inv_freq_.resize(half);
  for (int i = 0; i < half; ++i)
    inv_freq_[i] = static_cast<float>(1.0 / std::pow(static_cast<double>(theta), (2.0 * i) / head_dim));
  if (scaling.type == "llama3") {
    // Llama-3.1 frequency-dependent scaling (transformers _compute_llama3_parameters).
    const double low_wavelen = scaling.original_max_position_embeddings / scaling.low_freq_factor;
    const double high_wavelen = scaling.original_max_position_embeddings / scaling.high_freq_factor;
    for (float& f : inv_freq_) {
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / scaling.factor);
      } else if (wavelen >= high_wavelen) {
        const double smooth = (scaling.original_max_position_embeddings / wavelen - scaling.low_freq_factor) /
                              (scaling.high_freq_factor - scaling.low_freq_factor);
        f = static_cast<float>((1.0 - smooth) * f / scaling.factor + smooth * f);
      }
    }
  } else if (scaling.type == "linear" && scaling.factor > 0) {
    for (float& f : inv_freq_) f /= scaling.factor;
  }
  ensure(max_pos);
}

void RopeTable::ensure(int64_t max_pos) {
  if (max_pos <= max_pos_) return;
  const int half = head_dim_ / 2;
  cos_.resize(static_cast<size_t>(max_pos * half));
  sin_.resize(static_cast<size_t>(max_pos * half));
  for (int64_t p = max_pos_; p < max_pos; ++p)
    for (int i = 0; i < half; ++i) {
      // fp32 product as HF computes it (position * inv_freq in float32), then cos/sin.
      const float a = static_cast<float>(p) * inv_freq_[i];
      cos_[p * half + i] = std::cos(a);
      sin_[p * half + i] = std::sin(a);
    }
  max_pos_ = max_pos;
}

void rope_inplace(float* x, int64_t m, int64_t row_stride, int n_heads, int64_t pos0, const RopeTable& rope) {
  AWQX_CHECK(pos0 + m <= rope.size());
  const int hd = rope.head_dim(), half = hd / 2;
  parallel_for(0, m * n_heads, 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t r = t / n_heads;
      float* h = x + r * row_stride + (t % n_heads) * hd;
      const float* c = rope.cos(pos0 + r);
      const float* s = rope.sin(pos0 + r);
      for (int i = 0; i < half; ++i) {
        const float x1 = h[i], x2 = h[i + half];
        h[i] = x1 * c[i] - x2 * s[i];
        h[i + half] = x2 * c[i] + x1 * s[i];
      }
    }
  });
}

namespace {
inline float elem(const uint16_t* p, KvType t) { return t == KvType::bf16 ? bf16_to_f32(*p) : f16_to_f32(*p); }

// Visits positions [0, n_keys) of one kv head block by block: fn(p0, n, k_rows, v_rows) with
// n rows at pos_stride.
template <typename T, typename Fn>
void for_each_block(const KvRows& kv, int64_t n_keys, Fn&& fn) {
  const T* k = static_cast<const T*>(kv.k);
  const T* v = static_cast<const T*>(kv.v);
  if (!kv.table) return fn(int64_t{0}, n_keys, k, v);
  for (int64_t p0 = 0, b = 0; p0 < n_keys; p0 += kv.block_size, ++b) {
    const int64_t off = static_cast<int64_t>(kv.table[b]) * kv.block_stride;
    fn(p0, std::min(kv.block_size, n_keys - p0), k + off, v + off);
  }
}

template <typename T>
void attend_portable_t(const float* q, const KvRows& kv, int64_t n_keys, int head_dim, float scale, float* scores,
                       float* out) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(head_dim));
  auto widen = [&](const T* src) -> const float* {
    if constexpr (std::is_same_v<T, float>) {
      return src;
    } else {
      for (int d = 0; d < head_dim; ++d) row[d] = elem(src + d, kv.type);
      return row.data();
    }
  };
  float mx = -INFINITY;
  for_each_block<T>(kv, n_keys, [&](int64_t p0, int64_t n, const T* k, const T*) {
    for (int64_t p = 0; p < n; ++p) {
      scores[p0 + p] = dot_f32(q, widen(k + p * kv.pos_stride), head_dim) * scale;
      mx = std::max(mx, scores[p0 + p]);
    }
  });
  float sum = 0.f;
  for (int64_t p = 0; p < n_keys; ++p) {
    scores[p] = std::exp(scores[p] - mx);
    sum += scores[p];
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + head_dim, 0.f);
  for_each_block<T>(kv, n_keys, [&](int64_t p0, int64_t n, const T*, const T* v) {
    for (int64_t p = 0; p < n; ++p) {
      const float* vp = widen(v + p * kv.pos_stride);
      const float wgt = scores[p0 + p] * inv;
      for (int d = 0; d < head_dim; ++d) out[d] += wgt * vp[d];
    }
  });
}
}  // namespace

void attend_rows_portable(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys,
                          int head_dim, float scale, float* scores, float* out, int64_t out_stride) {
  for (int r = 0; r < rows; ++r) {
    if (kv.type == KvType::f32)
      attend_portable_t<float>(q + r * q_stride, kv, keys.count(r), head_dim, scale, scores, out + r * out_stride);
    else
      attend_portable_t<uint16_t>(q + r * q_stride, kv, keys.count(r), head_dim, scale, scores, out + r * out_stride);
  }
}

void attend_rows_avx512(const float* q, int64_t q_stride, int rows, const KvRows& kv, RowKeys keys, int head_dim,
                        float scale, float* scores, float* out, int64_t out_stride) {
  if (!kernels::attend_rows_avx512(q, q_stride, rows, kv, keys, head_dim, scale, scores, out, out_stride))
    attend_rows_portable(q, q_stride, rows, kv, keys, head_dim, scale, scores, out, out_stride);
}

void silu_mul_portable(const float* g, const float* u, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

const RowKernels& row_kernels() {
  static const RowKernels portable{"portable", attend_rows_portable, silu_mul_portable};
  static const RowKernels avx512{"avx512", attend_rows_avx512, silu_mul_avx512};
  static const RowKernels& chosen = [&]() -> const RowKernels& {
    const char* env = std::getenv("AWQX_OPS");
    if (env && std::string(env) == "portable") return portable;
    return cpu_info().has(Isa::avx512) ? avx512 : portable;
  }();
  return chosen;
}

namespace {
// Heads of one GQA group handled by one decode task: the whole group (its shared K/V read once)
// unless that leaves fewer tasks than threads; then the group is split into the smallest parts
// that keep every thread busy. Results do not depend on it (a row's bits are the lone row's).
int decode_heads_per_task(int group, int n_kv_heads) {
  const int threads = num_threads();
  int parts = 1;  // a divisor of group, so the tasks cover every head
  while (parts < group && (group % parts != 0 || int64_t{n_kv_heads} * parts < threads ||
                           group / parts > kernels::kAttendMaxRows))
    ++parts;
  return group / parts;
}
}  // namespace

void attention(const float* q, int64_t m, int64_t q_stride, const KvRows& kv, int64_t n_past, int n_heads,
               int n_kv_heads, int head_dim, float* out, int64_t out_stride) {
  const int group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const AttendRowsFn fn = row_kernels().attend_rows;
  const size_t esize = kv_type_size(kv.type);
  auto head_rows = [&](int h) {  // kv head h's rows
    const size_t ho = static_cast<size_t>(h) * static_cast<size_t>(kv.head_stride) * esize;
    KvRows r = kv;
    r.k = static_cast<const char*>(kv.k) + ho;
    r.v = static_cast<const char*>(kv.v) + ho;
    return r;
  };
  // Per-thread score buffer, reused across calls: no allocation per token once warm. Grows
  // geometrically (at least 4096) so a decode loop reallocates O(log n) times at most.
  constexpr int64_t kTile = kernels::kAttendMaxRows;
  auto scores_for = [&]() -> float* {
    thread_local std::vector<float> scores;
    const size_t need = static_cast<size_t>(kTile * (n_past + m));  // rows × their longest key count
    if (scores.size() < need) scores.resize(std::max<size_t>({need, 2 * scores.size(), 4096}));
    return scores.data();
  };
  if (m == 1 && group > 1) {
    // Decode with GQA: tasks of `per` query heads of one group at the same position.
    const int per = decode_heads_per_task(group, n_kv_heads), tasks_per_kv = group / per;
    parallel_for(0, int64_t{n_kv_heads} * tasks_per_kv, 1, [&](int64_t b, int64_t e) {
      float* sc = scores_for();
      for (int64_t t = b; t < e; ++t) {
        const int h0 = static_cast<int>(t) * per;  // first query head of the task
        fn(q + int64_t{h0} * head_dim, head_dim, per, head_rows(h0 / group), RowKeys{n_past + 1, 0}, head_dim,
           scale, sc, out + int64_t{h0} * head_dim, head_dim);
      }
    });
    return;
  }
  // Tasks: (tile of up to kTile consecutive rows, query head). Later tiles see more keys
  // (causal), and the static schedule hands each thread a contiguous range, so tiles are visited
  // in the order 0, last, 1, last-1, ...: every contiguous range then holds about the same work.
  const int64_t tiles = (m + kTile - 1) / kTile;
  parallel_for(0, tiles * n_heads, 1, [&](int64_t b, int64_t e) {
    float* sc = scores_for();
    for (int64_t t = b; t < e; ++t) {
      const int64_t z = t / n_heads, tile = z % 2 == 0 ? z / 2 : tiles - 1 - z / 2;
      const int h = static_cast<int>(t % n_heads);
      const int64_t i0 = tile * kTile;
      const int rows = static_cast<int>(std::min(kTile, m - i0));
      fn(q + i0 * q_stride + static_cast<int64_t>(h) * head_dim, q_stride, rows, head_rows(h / group),
         RowKeys{n_past + i0 + 1, 1}, head_dim, scale, sc, out + i0 * out_stride + static_cast<int64_t>(h) * head_dim,
         out_stride);
    }
  });
}

void attention(const float* q, int64_t m, int64_t q_stride, const float* k_cache, const float* v_cache,
               int64_t kv_stride, int64_t n_past, int n_heads, int n_kv_heads, int head_dim, float* out,
               int64_t out_stride) {
  KvRows kv{k_cache, v_cache};
  kv.pos_stride = kv_stride;
  kv.head_stride = head_dim;
  attention(q, m, q_stride, kv, n_past, n_heads, n_kv_heads, head_dim, out, out_stride);
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const SiluMulFn fn = row_kernels().silu_mul;
  parallel_for(0, n, 4096, [&](int64_t b, int64_t e) { fn(gate + b, up + b, out + b, e - b); });
}

void silu_mul_fused(const float* gu, int64_t m, int64_t inter, float* out) {
  const SiluMulFn fn = row_kernels().silu_mul;
  if (m == 1) {  // decode: split the row itself across threads
    parallel_for(0, inter, 2048, [&](int64_t b, int64_t e) { fn(gu + b, gu + inter + b, out + b, e - b); });
    return;
  }
  parallel_for(0, m, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) fn(gu + r * 2 * inter, gu + r * 2 * inter + inter, out + r * inter, inter);
  });
}

void matmul_f32(const float* x, const float* w, float* y, int64_t m, int64_t n, int64_t k) {
  if (m == 0 || n == 0) return;
  // Row-major y = x·wᵀ: oneDNN's sgemm takes row-major operands with transposition flags.
  const dnnl_status_t st = dnnl_sgemm('N', 'T', m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
  if (st != dnnl_success) throw Error(ErrorCode::internal, "", "dnnl_sgemm", "oneDNN sgemm failed");
}

double log_prob(const float* logits, int64_t vocab, int64_t target) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  return static_cast<double>(logits[target]) - mx - std::log(sum);
}

}  // namespace awqx::ops

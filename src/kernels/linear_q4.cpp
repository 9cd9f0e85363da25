// Q4Weights helpers and the int4 Linear layer (include/awqx/linear.hpp). The layer picks its
// gemv (m == 1) and gemm (m >= 2) kernels once, at construction, packs once per distinct
// format (the SIMD kernels share q4r16x8, so decode and prefill read the same buffer), and
// forward() is one indirect call.
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/kernels.hpp"
#include "awqx/linear.hpp"

namespace awqx {

Q4Weights Q4Weights::empty(int64_t n, int64_t k, int group_size, bool zero_point) {
  Q4Weights w;
  w.n = n;
  w.k = k;
  w.group_size = group_size;
  w.zero_point = zero_point;
  if (n < 0 || k < 0 || group_size < 1 || k % 2 != 0 || k % group_size != 0 || (n > 0 && k > (int64_t{1} << 40) / n))
    throw Error::mismatch(ErrorCode::shape, "", "q4 weights", "n >= 0, even k a multiple of group_size",
                          fmt::format("n={} k={} group_size={}", n, k, group_size));
  w.qdata.assign(static_cast<size_t>(n * k / 2), 0);
  w.scales.assign(static_cast<size_t>(n * (k / group_size)), 1.0f);
  w.zeros.assign(static_cast<size_t>(n * (k / group_size)), 8);
  return w;
}

void Q4Weights::validate(const std::string& file, const std::string& what) const {
  if (n < 1 || k < 2 || k % 2 != 0 || group_size < 1 || k % group_size != 0)
    throw Error::mismatch(ErrorCode::shape, file, what, "n >= 1, even k >= 2 divisible by group_size",
                          fmt::format("n={} k={} group_size={}", n, k, group_size));
  if (k > (int64_t{1} << 40) / n)
    throw Error::mismatch(ErrorCode::shape, file, what, "n*k < 2^40", fmt::format("n={} k={}", n, k));
  const size_t ng = static_cast<size_t>(n * groups());
  if (qdata.size() != static_cast<size_t>(n * k / 2))
    throw Error::mismatch(ErrorCode::shape, file, what + ".qdata", fmt::format("{} bytes", n * k / 2),
                          fmt::format("{}", qdata.size()));
  if (scales.size() != ng)
    throw Error::mismatch(ErrorCode::shape, file, what + ".scales", fmt::format("{} values", ng),
                          fmt::format("{}", scales.size()));
  if (zeros.size() != ng)
    throw Error::mismatch(ErrorCode::shape, file, what + ".zeros", fmt::format("{} values", ng),
                          fmt::format("{}", zeros.size()));
  if (!bias.empty() && bias.size() != static_cast<size_t>(n))
    throw Error::mismatch(ErrorCode::shape, file, what + ".bias", fmt::format("0 or {} values", n),
                          fmt::format("{}", bias.size()));
  for (size_t i = 0; i < ng; ++i) {
    if (zeros[i] > 15)
      throw Error::mismatch(ErrorCode::format, file, what + ".zeros", "values in 0..15",
                            fmt::format("{} at index {}", zeros[i], i));
    if (!zero_point && zeros[i] != 8)
      throw Error::mismatch(ErrorCode::format, file, what + ".zeros", "8 everywhere (zero_point=false)",
                            fmt::format("{} at index {}", zeros[i], i));
    if (!std::isfinite(scales[i]))
      throw Error::mismatch(ErrorCode::format, file, what + ".scales", "finite values",
                            fmt::format("{} at index {}", scales[i], i));
  }
  for (size_t i = 0; i < bias.size(); ++i)
    if (!std::isfinite(bias[i]))
      throw Error::mismatch(ErrorCode::format, file, what + ".bias", "finite values",
                            fmt::format("{} at index {}", bias[i], i));
}

std::vector<float> Q4Weights::dequantize() const {
  std::vector<float> out(static_cast<size_t>(n * k));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) out[static_cast<size_t>(r * k + c)] = dequant(r, c);
  return out;
}

Q4Weights concat_rows(const std::vector<const Q4Weights*>& parts) {
  if (parts.empty()) throw Error(ErrorCode::invalid_argument, "", "concat_rows", "expected at least one part, found 0");
  const Q4Weights& a = *parts[0];
  Q4Weights out;
  out.k = a.k;
  out.group_size = a.group_size;
  out.zero_point = a.zero_point;
  bool any_bias = false;
  for (const Q4Weights* p : parts) any_bias |= !p->bias.empty();
  for (size_t i = 0; i < parts.size(); ++i) {
    const Q4Weights& p = *parts[i];
    if (p.k != a.k || p.group_size != a.group_size || p.zero_point != a.zero_point)
      throw Error::mismatch(ErrorCode::shape, "", fmt::format("concat_rows part {}", i),
                            fmt::format("k={} g={} zp={}", a.k, a.group_size, a.zero_point),
                            fmt::format("k={} g={} zp={}", p.k, p.group_size, p.zero_point));
    p.validate("", fmt::format("concat_rows part {}", i));
    out.n += p.n;
    out.qdata.insert(out.qdata.end(), p.qdata.begin(), p.qdata.end());
    out.scales.insert(out.scales.end(), p.scales.begin(), p.scales.end());
    out.zeros.insert(out.zeros.end(), p.zeros.begin(), p.zeros.end());
    if (any_bias) {
      if (p.bias.empty())
        out.bias.insert(out.bias.end(), static_cast<size_t>(p.n), 0.0f);
      else
        out.bias.insert(out.bias.end(), p.bias.begin(), p.bias.end());
    }
  }
  return out;
}

namespace {

class Q4Linear final : public Linear {
 public:
  Q4Linear(const Q4Weights& w, const std::string& backend) : n_(w.n), k_(w.k) {
    w.validate("", "q4 weights");
    const CpuInfo& cpu = cpu_info();
    kernels::Problem p{1, w.n, w.k, w.group_size, w.zero_point};
    gemv_ = &kernels::select(p, cpu, backend);
    p.m = 512;
    gemm_ = &kernels::select(p, cpu, backend);
    // Batches below the large-m kernel's measured crossover (KernelEntry::min_m, e.g. AMX) take
    // the best kernel for m = 2: a serving step of 2-3 decoding sequences is such a batch.
    p.m = 2;
    small_ = gemm_->min_m > 2 ? &kernels::select(p, cpu, backend) : gemm_;
    gemv_w_ = std::make_shared<kernels::PackedQ4>(gemv_->pack(w));
    gemm_w_ = packed_for(*gemm_, w);
    small_w_ = packed_for(*small_, w);
    kernels::check_packed(*gemv_, *gemv_w_);
    kernels::check_packed(*gemm_, *gemm_w_);
    kernels::check_packed(*small_, *small_w_);
    desc_ = fmt::format("q4 g{} {} gemv={} gemm={}", w.group_size, w.zero_point ? "zp" : "sym", gemv_->name,
                        gemm_->name);
    if (small_ != gemm_) desc_ += fmt::format(" (m<{}: {})", gemm_->min_m, small_->name);
  }
  int64_t n() const noexcept override { return n_; }
  int64_t k() const noexcept override { return k_; }
  void forward(const float* x, int64_t m, float* y) const override {
    if (m <= 0) return;
    if (m == 1)
      gemv_->run(*gemv_w_, x, m, y);
    else if (m < gemm_->min_m)
      small_->run(*small_w_, x, m, y);
    else
      gemm_->run(*gemm_w_, x, m, y);
  }
  size_t weight_bytes() const noexcept override { return gemv_w_->weight_bytes(); }
  std::string describe() const override { return desc_; }

 private:
  int64_t n_, k_;
  const kernels::KernelEntry* gemv_ = nullptr;
  const kernels::KernelEntry* gemm_ = nullptr;
  const kernels::KernelEntry* small_ = nullptr;
  std::shared_ptr<kernels::PackedQ4> gemv_w_, gemm_w_, small_w_;

  // Kernels of one packed format share one buffer (the SIMD kernels all read q4r16x8).
  std::shared_ptr<kernels::PackedQ4> packed_for(const kernels::KernelEntry& e, const Q4Weights& w) const {
    if (e.pack == gemv_->pack && e.format == gemv_->format) return gemv_w_;
    if (gemm_w_ && e.pack == gemm_->pack && e.format == gemm_->format) return gemm_w_;
    return std::make_shared<kernels::PackedQ4>(e.pack(w));
  }
  std::string desc_;
};

}  // namespace

std::unique_ptr<Linear> make_q4_linear(Q4Weights w, const std::string& backend) {
  return std::make_unique<Q4Linear>(w, backend);
}

}  // namespace awqx

// FP Linear layers (include/awqx/linear.hpp): weights [n][k] in f32 / bf16 / f16 kept as given
// (a bf16 7B model stays bf16 in memory). m <= fp_gemv_max_rows (decode, batched decode: the
// lm_head of every step): our own multi-row GEMV (fp_gemv.hpp, widened in registers, fp32
// activations, rows batch-invariant); larger m (prefill, perplexity): oneDNN matmul (bf16
// weights × bf16-rounded activations, or f32), primitives cached per m; backend "ref" forces
// the scalar path for both.
#include <cstring>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "awqx/cpu.hpp"
#include "awqx/error.hpp"
#include "awqx/half.hpp"
#include "awqx/kernels.hpp"
#include "awqx/linear.hpp"
#include "awqx/parallel.hpp"
#include "kernels/fp_gemv.hpp"
#include "kernels/onednn_util.hpp"

namespace awqx {
namespace {

using kernels::FpType;

constexpr size_t kMaxCachedPrims = 32;

class FpLinear final : public Linear {
 public:
  FpLinear(TensorView w, std::vector<float> bias, const std::string& backend)
      : w_(std::move(w)), bias_(std::move(bias)) {
    if (w_.dtype != DType::F32 && w_.dtype != DType::BF16 && w_.dtype != DType::F16)
      throw Error::mismatch(ErrorCode::dtype, w_.file, w_.name, "F32, BF16 or F16", dtype_name_local(w_.dtype));
    if (w_.shape.size() != 2 || w_.shape[0] < 1 || w_.shape[1] < 1)
      throw Error::mismatch(ErrorCode::shape, w_.file, w_.name, "a 2-d [n][k] weight", shape_text(w_.shape));
    n_ = w_.shape[0];
    k_ = w_.shape[1];
    const size_t es = w_.dtype == DType::F32 ? 4 : 2;
    if (k_ > (int64_t{1} << 40) / n_ || w_.data == nullptr || w_.nbytes != static_cast<size_t>(n_ * k_) * es)
      throw Error::mismatch(ErrorCode::shape, w_.file, w_.name, fmt::format("{} bytes of data", n_ * k_ * int64_t(es)),
                            fmt::format("{}", w_.nbytes));
    if (!bias_.empty() && bias_.size() != static_cast<size_t>(n_))
      throw Error::mismatch(ErrorCode::shape, w_.file, w_.name + " bias", fmt::format("0 or {} values", n_),
                            fmt::format("{}", bias_.size()));
    type_ = w_.dtype == DType::F32 ? FpType::f32 : w_.dtype == DType::BF16 ? FpType::bf16 : FpType::f16;
    const CpuInfo& cpu = cpu_info();
    use_ref_ = backend == "ref" || backend == "gemv_f32_q4g_ref" || backend == "gemm_f32_q4g_ref";
    // A forced exact fp32 family asks for row-independent results (batched serving equal to one
    // sequence alone): then m > 1 loops the GEMV over rows instead of oneDNN's bf16-rounded GEMM.
    row_loop_ = use_ref_ || backend == "avx512" || backend == "avx2";
    // oneDNN has no bf16 matmul on CPUs without AVX-512 (e.g. AVX2-only EPYCs): loop the GEMV
    // rather than fail (or keep a 2x larger f32 copy of the weights).
    if (type_ == FpType::bf16 && !onednn_bf16_matmul_available()) row_loop_ = true;
    if (use_ref_)
      gemv_ = kernels::gemv_fp_ref, gemv_name_ = "gemv_fp_ref";
    else if (cpu.has(Isa::avx512))
      gemv_ = kernels::gemv_fp_avx512, gemv_name_ = "gemv_fp_avx512";
    else if (cpu.has(Isa::avx2))
      gemv_ = kernels::gemv_fp_avx2, gemv_name_ = "gemv_fp_avx2";
    else
      gemv_ = kernels::gemv_fp_ref, gemv_name_ = "gemv_fp_ref";
  }

  int64_t n() const noexcept override { return n_; }
  int64_t k() const noexcept override { return k_; }
  size_t weight_bytes() const noexcept override { return w_.nbytes + bias_.size() * sizeof(float); }
  std::string describe() const override {
    return fmt::format("fp {} gemv={} gemm={}", dtype_name_local(w_.dtype), gemv_name_,
                       row_loop_ ? fmt::format("{} (row loop)", gemv_name_) : std::string("onednn matmul"));
  }

  static bool onednn_bf16_matmul_available() {
    static const bool ok = [] {
      try {
        using dt = dnnl::memory::data_type;
        kernels::DnnlMatmul probe(2, 16, 16, dt::bf16, dt::bf16, false);
        return true;
      } catch (const Error&) {
        return false;
      }
    }();
    return ok;
  }

  void forward(const float* x, int64_t m, float* y) const override {
    if (m <= 0) return;
    const float* b = bias_.empty() ? nullptr : bias_.data();
    if (m <= fp_gemv_max_rows(w_.dtype) || row_loop_) {
      // Threads split the weight rows; each pass over them serves up to 8 rows of x.
      const int64_t grain = std::max<int64_t>(16, (n_ + num_threads() - 1) / num_threads());
      parallel_for(0, n_, grain, [&](int64_t r0, int64_t r1) { gemv_(type_, w_.data, k_, x, m, r0, r1, b, y, n_); });
      return;
    }
    const kernels::DnnlMatmul& mm = prim_for(m);
    if (type_ == FpType::bf16) {
      thread_local std::vector<uint16_t> xb;
      xb.resize(static_cast<size_t>(m * k_));
      for (size_t i = 0; i < xb.size(); ++i) xb[i] = f32_to_bf16(x[i]);
      mm.run(xb.data(), w_.data, b, y);
    } else {
      mm.run(x, type_ == FpType::f16 ? static_cast<const void*>(f32_weights()) : w_.data, b, y);
    }
  }

 private:
  static const char* dtype_name_local(DType d) {
    switch (d) {
      case DType::F32: return "F32";
      case DType::F16: return "F16";
      case DType::BF16: return "BF16";
      default: return "non-float dtype";
    }
  }
  static std::string shape_text(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
  }

  // oneDNN 2.6 has no f16 matmul without AVX512-FP16 kernels: f16 weights get an f32 copy, made
  // on the first call with m > fp_gemv_max_rows only (a server decoding in small batches never pays its
  // 2× memory: 524 MB for a 7B lm_head).
  const float* f32_weights() const {
    std::call_once(f32_once_, [&] {
      f32_copy_.resize(static_cast<size_t>(n_ * k_));
      const uint16_t* src = w_.as<uint16_t>();
      for (size_t i = 0; i < f32_copy_.size(); ++i) f32_copy_[i] = f16_to_f32(src[i]);
    });
    return f32_copy_.data();
  }

  const kernels::DnnlMatmul& prim_for(int64_t m) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = prims_.find(m);
    if (it != prims_.end()) return *it->second;
    if (prims_.size() >= kMaxCachedPrims) prims_.erase(prims_.begin());
    using dt = dnnl::memory::data_type;
    const dt t = type_ == FpType::bf16 ? dt::bf16 : dt::f32;
    auto p = std::make_unique<kernels::DnnlMatmul>(m, n_, k_, t, t, !bias_.empty());
    return *prims_.emplace(m, std::move(p)).first->second;
  }

  TensorView w_;
  std::vector<float> bias_;
  int64_t n_ = 0, k_ = 0;
  FpType type_ = FpType::f32;
  bool use_ref_ = false, row_loop_ = false;
  kernels::FpGemvFn gemv_ = nullptr;
  const char* gemv_name_ = "";
  mutable std::once_flag f32_once_;
  mutable std::vector<float> f32_copy_;
  mutable std::mutex mu_;
  mutable std::map<int64_t, std::unique_ptr<kernels::DnnlMatmul>> prims_;
};

}  // namespace

std::unique_ptr<Linear> make_fp_linear(TensorView w, std::vector<float> bias, const std::string& backend) {
  return std::make_unique<FpLinear>(std::move(w), std::move(bias), backend);
}

std::unique_ptr<Linear> make_fp_linear_fused(const std::vector<TensorView>& ws, std::vector<float> bias,
                                             const std::string& backend) {
  if (ws.empty()) throw Error(ErrorCode::invalid_argument, "", "make_fp_linear_fused", "expected at least one weight, found 0");
  const TensorView& a = ws[0];
  int64_t n = 0;
  size_t bytes = 0;
  for (const TensorView& t : ws) {
    if (t.dtype != a.dtype)
      throw Error(ErrorCode::dtype, t.file, t.name, "expected the dtype of " + a.name + " for fusion");
    if (t.shape.size() != 2 || a.shape.size() != 2 || t.shape[1] != a.shape[1] || t.shape[0] < 1)
      throw Error(ErrorCode::shape, t.file, t.name, "expected [n][k] with the k of " + a.name + " for fusion");
    if (t.data == nullptr || t.nbytes != static_cast<size_t>(t.shape[0] * t.shape[1]) * (t.dtype == DType::F32 ? 4 : 2))
      throw Error(ErrorCode::shape, t.file, t.name, "expected data bytes matching the shape");
    n += t.shape[0];
    bytes += t.nbytes;
  }
  // 64-byte aligned (std::vector's 16-byte alignment splits every 512-bit load across cache lines).
  std::shared_ptr<uint8_t[]> buf(kernels::aligned_alloc_bytes(bytes).release(), kernels::AlignedFree{});
  size_t off = 0;
  for (const TensorView& t : ws) {
    std::memcpy(buf.get() + off, t.data, t.nbytes);
    off += t.nbytes;
  }
  TensorView fused;
  fused.name = a.name + " (fused)";
  fused.file = a.file;
  fused.dtype = a.dtype;
  fused.shape = {n, a.shape[1]};
  fused.data = buf.get();
  fused.nbytes = bytes;
  fused.owner = buf;
  return make_fp_linear(std::move(fused), std::move(bias), backend);
}

}  // namespace awqx

// Thin RAII-ish wrapper over a oneDNN matmul primitive: y[m][n] = x[m][k]·w[n][k]ᵀ (+ bias),
// weights given row-major [n][k] (oneDNN "ba" for a K×N matrix), dst f32. Primitives are
// created once per (m, n, k, types) and reused.
#pragma once
#include <cstdint>
#include <memory>

#include <dnnl.hpp>

namespace awqx::kernels {

dnnl::engine& dnnl_cpu_engine();

class DnnlMatmul {
 public:
  // src_dt / wei_dt: f32 or bf16. Throws Error{unsupported_hardware} if oneDNN has no
  // implementation for the combination.
  // ldy: row stride of y in elements (0 = n), so a caller can fill a column slice of a wider Y.
  // prepacked: the primitive picks its own weight layout (e.g. AMX-blocked int8); weights must
  // then be converted once with pack_weights() — what a model that stores such weights would do.
  DnnlMatmul(int64_t m, int64_t n, int64_t k, dnnl::memory::data_type src_dt, dnnl::memory::data_type wei_dt,
             bool bias, int64_t ldy = 0, bool prepacked = false);
  // Bytes of the primitive's weight layout, and the conversion from row-major [n][k].
  size_t weight_bytes() const { return wei_md_.get_size(); }
  void pack_weights(const void* plain_nk, void* dst) const;
  // x: [m][k] of src_dt, w: [n][k] of wei_dt, bias: [n] f32 or null, y: [m][n] f32.
  // Uses `threads` OpenMP threads (0: awqx::num_threads()).
  void run(const void* x, const void* w, const float* bias, float* y, int threads = 0) const;
  int64_t m() const noexcept { return m_; }
  int64_t n() const noexcept { return n_; }
  int64_t k() const noexcept { return k_; }

 private:
  int64_t m_, n_, k_;
  bool bias_;
  dnnl::memory::desc src_md_, wei_md_, plain_wei_md_, dst_md_, bias_md_;
  dnnl::matmul prim_;
};

}  // namespace awqx::kernels

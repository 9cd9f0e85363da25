#include "kernels/onednn_util.hpp"

#include <omp.h>

#include "awqx/error.hpp"
#include "awqx/parallel.hpp"

namespace awqx::kernels {

dnnl::engine& dnnl_cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

DnnlMatmul::DnnlMatmul(int64_t m, int64_t n, int64_t k, dnnl::memory::data_type src_dt,
                       dnnl::memory::data_type wei_dt, bool bias, int64_t ldy, bool prepacked)
    : m_(m), n_(n), k_(k), bias_(bias) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  src_md_ = dnnl::memory::desc({m, k}, src_dt, tag::ab);
  plain_wei_md_ = dnnl::memory::desc({k, n}, wei_dt, tag::ba);  // row-major [n][k] seen as K×N
  wei_md_ = prepacked ? dnnl::memory::desc({k, n}, wei_dt, tag::any) : plain_wei_md_;
  dst_md_ = dnnl::memory::desc({m, n}, dt::f32, dnnl::memory::dims{ldy > 0 ? ldy : n, 1});
  bias_md_ = dnnl::memory::desc({1, n}, dt::f32, tag::ab);
  try {
    auto d = bias ? dnnl::matmul::desc(src_md_, wei_md_, bias_md_, dst_md_) : dnnl::matmul::desc(src_md_, wei_md_, dst_md_);
    const dnnl::matmul::primitive_desc pd(d, dnnl_cpu_engine());
    wei_md_ = pd.weights_desc();
    prim_ = dnnl::matmul(pd);
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::unsupported_hardware, "", "onednn matmul", std::string("no oneDNN implementation: ") + e.what());
  }
}

void DnnlMatmul::pack_weights(const void* plain_nk, void* dst) const {
  dnnl::engine& eng = dnnl_cpu_engine();
  dnnl::stream s(eng);
  dnnl::memory from(plain_wei_md_, eng, const_cast<void*>(plain_nk)), to(wei_md_, eng, dst);
  dnnl::reorder(from, to).execute(s, from, to);
  s.wait();
}

void DnnlMatmul::run(const void* x, const void* w, const float* bias, float* y, int threads) const {
  omp_set_num_threads(threads > 0 ? threads : num_threads());
  dnnl::engine& eng = dnnl_cpu_engine();
  dnnl::stream s(eng);
  dnnl::memory src(src_md_, eng, const_cast<void*>(x));
  dnnl::memory wei(wei_md_, eng, const_cast<void*>(w));
  dnnl::memory dst(dst_md_, eng, y);
  if (bias_) {
    dnnl::memory b(bias_md_, eng, const_cast<float*>(bias));
    prim_.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, dst}});
  } else {
    prim_.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
  }
  s.wait();
}

}  // namespace awqx::kernels

// gemm_bf16_q4g_onednn: int4 GEMM for large m through oneDNN. Weights stay packed as q4n; each
// call dequantizes a panel of kNb rows to bf16 (f32 where oneDNN has no bf16 matmul on this CPU)
// and runs a dnnl matmul X(bf16)·panelᵀ into the matching column slice of Y. Dequantization is
// O(n·k) per call, negligible next to the O(m·n·k) matmul when m is large. No ISA flags here:
// oneDNN dispatches internally. Oracle simd/ref/gemv_q4g_ref.cpp; test
// tests/kernels/gemv_q4g_test.cpp; bench bench/gemm_q4g_bench.cpp.
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "awqx/half.hpp"
#include "awqx/kernels.hpp"
#include "awqx/parallel.hpp"
#include "kernels/onednn_util.hpp"

namespace awqx::kernels {
namespace {

constexpr int64_t kNb = 512;  // rows per dequantized panel (bf16 panel of 512×4096 = 4 MiB)

bool bf16_matmul_available() {
  static const bool ok = [] {
    try {
      DnnlMatmul probe(2, 16, 32, dnnl::memory::data_type::bf16, dnnl::memory::data_type::bf16, false);
      return true;
    } catch (...) {
      return false;
    }
  }();
  return ok;
}

// Row r of W dequantized to bf16 (or f32). A 16-entry table per group, lut[q] = (q − z)·s
// (rounded to bf16 exactly as f32_to_bf16 would), turns each packed byte into two outputs
// with two lookups: cheap enough to redo per call.
void dequant_row(const Q4Weights& w, int64_t r, void* out, bool bf16) {
  const int64_t k = w.k, gs = w.group_size;
  const uint8_t* q = w.qdata.data() + r * (k / 2);
  for (int64_t g = 0; g < w.groups(); ++g) {
    const float s = w.scales[static_cast<size_t>(r * w.groups() + g)];
    const float z = w.zeros[static_cast<size_t>(r * w.groups() + g)];
    float lut[16];
    for (int v = 0; v < 16; ++v) lut[v] = (static_cast<float>(v) - z) * s;
    const uint8_t* qg = q + g * gs / 2;
    if (bf16) {
      uint16_t lb[16];
      for (int v = 0; v < 16; ++v) lb[v] = f32_to_bf16(lut[v]);
      uint32_t* o = static_cast<uint32_t*>(out) + g * gs / 2;
      for (int64_t j = 0; j < gs / 2; ++j) o[j] = lb[qg[j] & 15] | static_cast<uint32_t>(lb[qg[j] >> 4]) << 16;
    } else {
      float* o = static_cast<float*>(out) + g * gs;
      for (int64_t j = 0; j < gs / 2; ++j) o[2 * j] = lut[qg[j] & 15], o[2 * j + 1] = lut[qg[j] >> 4];
    }
  }
}

// Primitive cache keyed by (m, panel rows); lives in PackedQ4::aux.
struct Cache {
  std::mutex mu;
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<DnnlMatmul>> prims;
};

void run_onednn(const PackedQ4& p, const float* x, int64_t m, float* y) {
  const Q4Weights& w = p.natural;
  const int64_t n = w.n, k = w.k;
  const bool bf16 = bf16_matmul_available();
  auto* cache = static_cast<Cache*>(p.aux.get());
  thread_local std::vector<uint16_t> xb_tls, wb_tls;
  thread_local std::vector<float> wf_tls;
  std::vector<uint16_t>& xb = xb_tls;
  std::vector<uint16_t>& wb = wb_tls;
  std::vector<float>& wf = wf_tls;
  const void* xsrc = x;
  if (bf16) {
    xb.resize(static_cast<size_t>(m * k));
    parallel_for(0, m * k, 4096, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) xb[static_cast<size_t>(i)] = f32_to_bf16(x[i]);
    });
    xsrc = xb.data();
    wb.resize(static_cast<size_t>(std::min(kNb, n) * k));
  } else {
    wf.resize(static_cast<size_t>(std::min(kNb, n) * k));
  }
  for (int64_t r0 = 0; r0 < n; r0 += kNb) {
    const int64_t nb = std::min(kNb, n - r0);
    parallel_for(0, nb, 16, [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r) dequant_row(w, r0 + r, bf16 ? static_cast<void*>(&wb[static_cast<size_t>(r * k)])
                                                                  : static_cast<void*>(&wf[static_cast<size_t>(r * k)]),
                                                  bf16);
    });
    const DnnlMatmul* mm;
    {
      std::lock_guard<std::mutex> lock(cache->mu);
      auto& slot = cache->prims[{m, nb}];
      if (!slot) {
        using dt = dnnl::memory::data_type;
        const dt t = bf16 ? dt::bf16 : dt::f32;
        slot = std::make_unique<DnnlMatmul>(m, nb, k, t, t, !p.bias.empty(), n);
      }
      mm = slot.get();
    }
    mm->run(xsrc, bf16 ? static_cast<const void*>(wb.data()) : wf.data(),
            p.bias.empty() ? nullptr : p.bias.data() + r0, y + r0);
  }
}

PackedQ4 pack_onednn(const Q4Weights& w) {
  PackedQ4 p = pack_q4n(w);
  p.aux = std::make_shared<Cache>();
  return p;
}

const KernelEntry kOnednnKernels[] = {
    {"gemm_bf16_q4g_onednn", Op::gemm, PackedFormat::q4n, Isa::ref, "onednn", 15, supported_any, pack_onednn,
     run_onednn},
};

}  // namespace

void register_onednn_kernels(Registry& r) { r.add(kOnednnKernels, std::size(kOnednnKernels)); }

}  // namespace awqx::kernels

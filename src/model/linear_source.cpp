#include "model/linear_source.hpp"

#include <fmt/format.h>

#include "awqx/error.hpp"

namespace awqx {

// AWQ part lives in linear_source_awq.cpp (needs the quantizer's unpacker).
LinearSource read_awq_linear(const LinearLoader& ld, const std::string& prefix, int64_t n, int64_t k, bool has_bias);

LinearSource LinearLoader::read(const std::string& prefix, int64_t n, int64_t k, bool has_bias) const {
  // AWQ model: int4 unless the FP weight is there (modules_to_not_convert). With neither, the
  // AWQ reader's lookup names the missing tensor as the .qweight the file should have.
  if (cfg.quant.present && (store.has(prefix + ".qweight") || !store.has(prefix + ".weight")))
    return read_awq_linear(*this, prefix, n, k, has_bias);
  LinearSource s;
  s.name = prefix;
  s.n = n;
  s.k = k;
  s.w = store.get(prefix + ".weight");
  s.w.expect_dtype({DType::F32, DType::F16, DType::BF16});
  s.w.expect_shape({n, k});
  if (has_bias || store.has(prefix + ".bias")) {
    const TensorView b = store.get(prefix + ".bias");
    b.expect_dtype({DType::F32, DType::F16, DType::BF16});
    b.expect_shape({n});
    s.bias = to_f32(b);
  }
  return s;
}

std::unique_ptr<Linear> LinearLoader::build(LinearSource&& src) const {
  if (src.is_q4) return make_q4_linear(std::move(src.q4), backend);
  // FP linears understand "ref" (scalar path) and ignore int4 kernel names.
  return make_fp_linear(src.w, std::move(src.bias), backend);
}

}  // namespace awqx

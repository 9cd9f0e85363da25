// AutoAWQ int4 linears: <prefix>.qweight / .qzeros / .scales (+ .bias) → Q4Weights.
#include <fmt/format.h>

#include "awqx/error.hpp"
#include "model/linear_source.hpp"

namespace awqx {

LinearSource read_awq_linear(const LinearLoader& ld, const std::string& prefix, int64_t n, int64_t k, bool has_bias) {
  (void)n;
  (void)k;
  (void)has_bias;
  throw Error(ErrorCode::unsupported_model, ld.store.dir(), prefix + ".qweight",
              "expected an FP checkpoint, found AWQ int4 tensors (loader not built yet)");
}

}  // namespace awqx

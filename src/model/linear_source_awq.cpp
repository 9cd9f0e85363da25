// AutoAWQ int4 linears: <prefix>.qweight / .qzeros / .scales (+ .bias) → Q4Weights through the
// format reader (src/io/awq_format.cpp, awqx/awq_format.hpp), which validates shapes against the
// grouping. The graph loads any AutoAWQ checkpoint without the quantizer.
#include <fmt/format.h>

#include "awqx/error.hpp"
#include "model/linear_source.hpp"

#include "awqx/awq_format.hpp"

namespace awqx {

LinearSource read_awq_linear(const LinearLoader& ld, const std::string& prefix, int64_t n, int64_t k, bool has_bias) {
  const QuantConfig& q = ld.cfg.quant;
  if (q.bits != 4)
    throw Error::mismatch(ErrorCode::unsupported_model, ld.store.dir() + "/config.json", "quantization_config.w_bit",
                          "4", std::to_string(q.bits));
  LinearSource s;
  s.name = prefix;
  s.n = n;
  s.k = k;
  s.is_q4 = true;
  const TensorView qw = ld.store.get(prefix + ".qweight");
  // qweight against the config's layer size first: otherwise a wrong qweight shows up as a
  // scales mismatch (the unpacker derives K or N from qweight), naming the wrong tensor.
  if (n % 8 == 0 && k % 8 == 0)
    qw.expect_shape(q.version == "gemv" ? std::vector<int64_t>{n, k / 8} : std::vector<int64_t>{k, n / 8});
  TensorView qz;  // optional: symmetric checkpoints may omit it (zero 8)
  const bool with_zeros = ld.store.has(prefix + ".qzeros");
  if (with_zeros) qz = ld.store.get(prefix + ".qzeros");
  const TensorView sc = ld.store.get(prefix + ".scales");
  TensorView bias;
  const bool with_bias = has_bias || ld.store.has(prefix + ".bias");
  if (with_bias) bias = ld.store.get(prefix + ".bias");
  const int group = q.group_size > 0 ? q.group_size : static_cast<int>(k);
  if (q.version == "gemv")
    s.q4 = awq_unpack_gemv(qw, with_zeros ? &qz : nullptr, sc, with_bias ? &bias : nullptr, group, q.zero_point, qw.file, prefix);
  else
    s.q4 = awq_unpack_gemm(qw, with_zeros ? &qz : nullptr, sc, with_bias ? &bias : nullptr, group, q.zero_point, qw.file, prefix);
  if (s.q4.n != n || s.q4.k != k)
    throw Error::mismatch(ErrorCode::shape, qw.file, prefix + ".qweight", fmt::format("a [{} x {}] (n x k) layer", n, k),
                          fmt::format("[{} x {}]", s.q4.n, s.q4.k));
  // The unpacked copy owns everything now: drop the file's pages of these tensors, so a load
  // holds the repacked model plus one layer in flight, not the mapped checkpoint as well (a
  // 7B-shaped int4 model peaked at twice its resident size). FP views stay mapped (not here).
  for (const TensorView* t : std::initializer_list<const TensorView*>{&qw, &qz, &sc, &bias}) ld.store.release(*t);
  return s;
}

}  // namespace awqx

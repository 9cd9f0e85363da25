// Uses the installed headers and library: version, the error type and the AWQ packer round trip.
#include <cstdio>

#include "awqx/awq_format.hpp"
#include "awqx/error.hpp"
#include "awqx/linear.hpp"
#include "awqx/model.hpp"
#include "awqx/version.hpp"

int main() {
  awqx::Q4Weights w = awqx::Q4Weights::empty(8, 32, 32, true);
  for (int64_t c = 0; c < 32; ++c) w.set_q(3, c, static_cast<uint8_t>(c % 16));
  const awqx::AwqGemmTensors t = awqx::awq_pack_gemm(w, "l");
  const awqx::Q4Weights back =
      awqx::awq_unpack_gemm(t.qweight, &t.qzeros, t.scales, nullptr, 32, true, "", "l");
  try {
    awqx::Model::load("/nonexistent-awqx-model");
    return 1;
  } catch (const awqx::Error& e) {
    std::printf("awqx %s find_package ok: q[3][5]=%d error=%s\n", awqx::version(), back.q(3, 5),
                awqx::error_code_name(e.code()));
  }
  return 0;
}

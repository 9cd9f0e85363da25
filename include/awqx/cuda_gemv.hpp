// CUDA int4 GEMV (only in builds with AWQX_HAVE_CUDA; implemented in cuda/gemv_q4g.cu).
// Weights are uploaded once in the q4n layout of Q4Weights (linear.hpp): qdata [n][k/2] with the
// even k in the low nibble, fp32 scales [n][groups], u8 zeros [n][groups]; y = dequant(W)·x.
// Plain types only, so nvcc sees no awqx headers beyond error.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace awqx::cuda {

bool device_available() noexcept;  // a CUDA driver and at least one device
std::string device_summary();      // "NVIDIA H200, 132 SMs, 139.8 GiB" or why not available

class Q4Gemv {
 public:
  // Copies the weights to device 0. Error{unsupported_hardware} without a device,
  // Error{shape} if k is odd or group_size does not divide k.
  Q4Gemv(int64_t n, int64_t k, int group_size, const uint8_t* qdata, const float* scales, const uint8_t* zeros);
  ~Q4Gemv();
  Q4Gemv(const Q4Gemv&) = delete;
  Q4Gemv& operator=(const Q4Gemv&) = delete;
  // y[n] = W·x with host x[k] and y[n] (copies in, runs, copies out, synchronizes).
  void run(const float* x, float* y) const;

 private:
  void release() noexcept;
  int64_t n_, k_;
  int group_size_;
  uint8_t* q_ = nullptr;
  float* s_ = nullptr;
  uint8_t* z_ = nullptr;
  float* x_ = nullptr;
  float* y_ = nullptr;
};

}  // namespace awqx::cuda

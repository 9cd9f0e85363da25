// CUDA int4 GEMV on the q4n layout (include/awqx/cuda_gemv.hpp). Memory-bound like the CPU GEMV:
// one warp per output row; each lane reads 4 bytes (8 nibbles) at a time, coalesced across the
// warp, dequantizes with its group's scale / zero, and the warp reduces with shuffles.
// The 4-byte path needs k % 8 == 0 and group_size % 8 == 0 (always true for AWQ's 32..256 and
// per-channel on real layers); anything else takes the byte loop.
#include <cuda_runtime.h>

#include <string>

#include "awqx/cuda_gemv.hpp"
#include "awqx/error.hpp"

namespace awqx::cuda {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw Error(ErrorCode::unsupported_hardware, "", "cuda", std::string(what) + ": " + cudaGetErrorString(e));
}

__global__ void gemv_q4n_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scales,
                                const uint8_t* __restrict__ zeros, const float* __restrict__ x, float* __restrict__ y,
                                int64_t n, int64_t k, int group_size) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n) return;
  const int64_t groups = k / group_size;
  const uint8_t* qr = q + row * (k / 2);
  const float* sr = scales + row * groups;
  const uint8_t* zr = zeros + row * groups;
  float acc = 0.f;
  if (k % 8 == 0 && group_size % 8 == 0) {
    const uint32_t* q4 = reinterpret_cast<const uint32_t*>(qr);  // rows are 4-byte aligned: k/2 % 4 == 0
    for (int64_t w = lane; w < k / 8; w += 32) {
      const uint32_t bits = q4[w];
      const int64_t c0 = w * 8;  // 8 consecutive k, all in one group (group_size % 8 == 0)
      const int64_t g = c0 / group_size;
      const float s = sr[g], z = static_cast<float>(zr[g]);
#pragma unroll
      for (int j = 0; j < 8; ++j) acc += (static_cast<float>((bits >> (4 * j)) & 0xF) - z) * s * x[c0 + j];
    }
  } else {
    for (int64_t b = lane; b < k / 2; b += 32) {
      const uint8_t v = qr[b];
      for (int j = 0; j < 2; ++j) {
        const int64_t c = 2 * b + j;
        const int64_t g = c / group_size;
        acc += (static_cast<float>((v >> (4 * j)) & 0xF) - static_cast<float>(zr[g])) * sr[g] * x[c];
      }
    }
  }
  for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
  if (lane == 0) y[row] = acc;
}

}  // namespace

bool device_available() noexcept {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::string device_summary() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return std::string("not available: ") + cudaGetErrorString(e);
  if (count == 0) return "not available: no CUDA device";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "not available: cannot query device 0";
  return std::string(p.name) + ", " + std::to_string(p.multiProcessorCount) + " SMs, " +
         std::to_string(p.totalGlobalMem >> 20) + " MiB" + (count > 1 ? " (+" + std::to_string(count - 1) + " more)" : "");
}

Q4Gemv::Q4Gemv(int64_t n, int64_t k, int group_size, const uint8_t* qdata, const float* scales, const uint8_t* zeros)
    : n_(n), k_(k), group_size_(group_size) {
  if (n < 1 || k < 2 || k % 2 != 0 || group_size < 2 || k % group_size != 0)
    throw Error(ErrorCode::shape, "", "cuda gemv", "needs n >= 1, even k and group_size dividing k");
  if (!device_available()) throw Error(ErrorCode::unsupported_hardware, "", "cuda", device_summary());
  const size_t qb = static_cast<size_t>(n * (k / 2)), gb = static_cast<size_t>(n * (k / group_size));
  try {
    check(cudaMalloc(&q_, qb), "cudaMalloc");
    check(cudaMalloc(&s_, gb * sizeof(float)), "cudaMalloc");
    check(cudaMalloc(&z_, gb), "cudaMalloc");
    check(cudaMalloc(&x_, static_cast<size_t>(k) * sizeof(float)), "cudaMalloc");
    check(cudaMalloc(&y_, static_cast<size_t>(n) * sizeof(float)), "cudaMalloc");
    check(cudaMemcpy(q_, qdata, qb, cudaMemcpyHostToDevice), "cudaMemcpy");
    check(cudaMemcpy(s_, scales, gb * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    check(cudaMemcpy(z_, zeros, gb, cudaMemcpyHostToDevice), "cudaMemcpy");
  } catch (...) {
    release();
    throw;
  }
}

Q4Gemv::~Q4Gemv() { release(); }

void Q4Gemv::release() noexcept {
  cudaFree(q_), cudaFree(s_), cudaFree(z_), cudaFree(x_), cudaFree(y_);  // cudaFree(nullptr) is a no-op
  q_ = nullptr, s_ = nullptr, z_ = nullptr, x_ = nullptr, y_ = nullptr;
}

void Q4Gemv::run(const float* x, float* y) const {
  check(cudaMemcpy(x_, x, static_cast<size_t>(k_) * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy x");
  constexpr int kWarps = 8;  // rows per block
  const unsigned blocks = static_cast<unsigned>((n_ + kWarps - 1) / kWarps);
  gemv_q4n_kernel<<<blocks, kWarps * 32>>>(q_, s_, z_, x_, y_, n_, k_, group_size_);
  check(cudaGetLastError(), "gemv_q4n_kernel launch");
  check(cudaMemcpy(y, y_, static_cast<size_t>(n_) * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy y");
}

}  // namespace awqx::cuda

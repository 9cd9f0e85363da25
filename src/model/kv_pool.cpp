// KvPool storage (include/awqx/kv_cache.hpp) and the KvType names.
#include <cstdlib>
#include <new>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/kv_cache.hpp"

namespace awqx {

const char* kv_type_name(KvType t) noexcept {
  switch (t) {
    case KvType::f32: return "f32";
    case KvType::f16: return "f16";
    case KvType::bf16: return "bf16";
  }
  return "?";
}

size_t kv_type_size(KvType t) noexcept { return t == KvType::f32 ? 4 : 2; }

KvType parse_kv_type(std::string_view s, const std::string& field) {
  for (KvType t : {KvType::f32, KvType::f16, KvType::bf16})
    if (s == kv_type_name(t)) return t;
  throw Error::mismatch(ErrorCode::invalid_argument, "", field, "one of f32, f16, bf16", "'" + std::string(s) + "'");
}

KvPool::KvPool(int64_t layers, int64_t kv_heads, int64_t head_dim, int64_t block_size, int64_t n_blocks, KvType type)
    : layers_(layers), kv_heads_(kv_heads), head_dim_(head_dim), block_size_(block_size), n_blocks_(n_blocks),
      type_(type) {
  if (block_size < 1)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "block_size", ">= 1", std::to_string(block_size));
  if (n_blocks < 1) throw Error::mismatch(ErrorCode::invalid_argument, "", "kv blocks", ">= 1", std::to_string(n_blocks));
  AWQX_CHECK(layers > 0 && kv_heads > 0 && head_dim > 0);
  // Half of block_bytes() each for K and V, rounded up to whole 2 MiB pages so the allocation
  // can be huge-page backed; aligned_alloc does not touch the pages.
  const size_t half = (block_bytes() / 2 * static_cast<size_t>(n_blocks) + (2u << 20) - 1) / (2u << 20) * (2u << 20);
  k_ = std::aligned_alloc(2u << 20, half);
  v_ = k_ ? std::aligned_alloc(2u << 20, half) : nullptr;
  if (!k_ || !v_) {
    std::free(k_);
    throw std::bad_alloc();
  }
}

KvPool::~KvPool() {
  std::free(k_);
  std::free(v_);
}

size_t KvPool::block_bytes() const noexcept {
  return 2 * static_cast<size_t>(block_stride()) * kv_type_size(type_);
}

}  // namespace awqx

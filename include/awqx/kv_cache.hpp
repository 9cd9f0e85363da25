// Paged KV cache storage: a pool of fixed-size blocks, each holding `block_size` token positions
// of keys and values for every layer and KV head. A sequence addresses its positions through a
// block table (position p lives in block table[p / block_size], slot p % block_size), so memory
// follows the tokens actually held and blocks can be shared between sequences (prefix reuse).
// Layout (K and V separately): [block][layer][kv head][slot][head_dim], elements of KvType, so
// one (layer, head) of a block is a contiguous block_size × head_dim tile that attention streams.
// Allocation policy (free lists, reference counts, prefix hashes) is the engine's business; the
// pool is storage plus addressing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace awqx {

// KV element type: f16/bf16 halve the cache's memory and the bytes attention reads per token.
enum class KvType : uint8_t { f32, f16, bf16 };
const char* kv_type_name(KvType t) noexcept;  // "f32", "f16", "bf16"
size_t kv_type_size(KvType t) noexcept;
// Throws Error{invalid_argument} naming `field` for anything but f32|f16|bf16.
KvType parse_kv_type(std::string_view s, const std::string& field);

class KvPool {
 public:
  // Throws Error{invalid_argument} for non-positive sizes, std::bad_alloc when out of memory.
  // Pages are not touched here: an unused block costs address space only.
  KvPool(int64_t layers, int64_t kv_heads, int64_t head_dim, int64_t block_size, int64_t n_blocks, KvType type);
  ~KvPool();
  KvPool(const KvPool&) = delete;
  KvPool& operator=(const KvPool&) = delete;

  int64_t layers() const noexcept { return layers_; }
  int64_t kv_heads() const noexcept { return kv_heads_; }
  int64_t head_dim() const noexcept { return head_dim_; }
  int64_t block_size() const noexcept { return block_size_; }
  int64_t n_blocks() const noexcept { return n_blocks_; }
  KvType type() const noexcept { return type_; }
  size_t block_bytes() const noexcept;  // K + V bytes of one block
  size_t bytes() const noexcept { return block_bytes() * static_cast<size_t>(n_blocks_); }

  // Elements between the same (layer, head, slot) of consecutive blocks.
  int64_t block_stride() const noexcept { return layers_ * kv_heads_ * block_size_ * head_dim_; }
  // Element offset of (layer, head) inside block 0.
  int64_t offset(int64_t layer, int64_t head) const noexcept {
    return (layer * kv_heads_ + head) * block_size_ * head_dim_;
  }
  void* k() noexcept { return k_; }
  void* v() noexcept { return v_; }
  const void* k() const noexcept { return k_; }
  const void* v() const noexcept { return v_; }

 private:
  int64_t layers_, kv_heads_, head_dim_, block_size_, n_blocks_;
  KvType type_;
  void* k_ = nullptr;
  void* v_ = nullptr;
};

}  // namespace awqx

#include "engine/block_manager.hpp"

#include "awqx/error.hpp"

namespace awqx::engine {

size_t BlockManager::KeyHash::operator()(const Key& k) const noexcept {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (static_cast<uint64_t>(static_cast<uint32_t>(k.parent)) << 32) ^ k.parent_gen;
  for (const int32_t t : k.tokens) {
    h ^= static_cast<uint32_t>(t);
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return static_cast<size_t>(h);
}

BlockManager::BlockManager(int64_t n_blocks, int64_t block_size)
    : block_size_(block_size), meta_(static_cast<size_t>(n_blocks)) {
  free_.reserve(static_cast<size_t>(n_blocks));
  // Lowest ids first out (pop_back): the first sequence gets blocks 0, 1, 2, ...
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

int32_t BlockManager::allocate() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    b = lru_.front();  // evict the least recently freed cached prefix block
    unregister(b);
  } else {
    return -1;
  }
  Meta& m = meta_[static_cast<size_t>(b)];
  AWQX_CHECK(m.refs == 0);
  ++m.gen;
  m.refs = 1;
  ++used_;
  return b;
}

void BlockManager::release(int32_t block) {
  Meta& m = meta_[static_cast<size_t>(block)];
  AWQX_CHECK(m.refs > 0);
  if (--m.refs > 0) return;
  --used_;
  if (m.registered) {
    m.lru_pos = lru_.insert(lru_.end(), block);
  } else {
    free_.push_back(block);
  }
}

void BlockManager::unregister(int32_t block) {
  Meta& m = meta_[static_cast<size_t>(block)];
  AWQX_CHECK(m.registered && m.refs == 0);
  lru_.erase(m.lru_pos);
  index_.erase(m.key);
  m.registered = false;
  m.key.tokens.clear();
}

std::vector<int32_t> BlockManager::match_prefix(const int32_t* prompt, int64_t n_full_blocks) {
  std::vector<int32_t> out;
  Key key{-1, 0, {}};
  for (int64_t b = 0; b < n_full_blocks; ++b) {
    key.tokens.assign(prompt + b * block_size_, prompt + (b + 1) * block_size_);
    const auto it = index_.find(key);
    if (it == index_.end()) break;
    const int32_t id = it->second;
    Meta& m = meta_[static_cast<size_t>(id)];
    if (m.refs == 0) {
      lru_.erase(m.lru_pos);
      ++used_;
    }
    ++m.refs;
    out.push_back(id);
    key.parent = id;
    key.parent_gen = m.gen;
  }
  return out;
}

void BlockManager::register_block(int32_t block, int32_t parent, const int32_t* tokens) {
  Meta& m = meta_[static_cast<size_t>(block)];
  if (m.registered) return;
  Key key{parent, parent >= 0 ? meta_[static_cast<size_t>(parent)].gen : 0,
          std::vector<int32_t>(tokens, tokens + block_size_)};
  if (index_.count(key)) return;  // same prefix computed twice concurrently: keep the first
  m.key = key;
  m.registered = true;
  index_.emplace(std::move(key), block);
}

}  // namespace awqx::engine

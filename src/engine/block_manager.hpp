// Block bookkeeping for the engine's paged KV pool: free list, reference counts, and the prefix
// cache. A full prompt block is registered under (parent block, parent's generation, its tokens);
// a later prompt whose blocks have the same key chain reuses them (reference-counted) instead of
// recomputing. Keys are compared exactly (no hash-collision risk): the parent's identity and
// generation stand for the whole prefix before the block, since a block's generation changes
// whenever it is recycled for other content.
// Freed blocks that hold a registered prefix stay reusable until the pool needs them; they are
// evicted least-recently-freed first. Not thread-safe: the engine thread owns it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace awqx::engine {

class BlockManager {
 public:
  BlockManager(int64_t n_blocks, int64_t block_size);

  int64_t total() const noexcept { return static_cast<int64_t>(meta_.size()); }
  int64_t used() const noexcept { return used_; }           // blocks with refcount > 0
  int64_t cached() const noexcept { return static_cast<int64_t>(lru_.size()); }  // free, holding a prefix
  int64_t available() const noexcept { return total() - used_; }  // free + evictable

  // A block for new content (refcount 1), or -1 when every block is in use.
  int32_t allocate();
  void release(int32_t block);  // refcount - 1; at 0 it becomes free (or evictable if registered)

  // The longest chain of registered blocks matching prompt[0 .. n_full_blocks * block_size):
  // their ids, each acquired (refcount + 1).
  std::vector<int32_t> match_prefix(const int32_t* prompt, int64_t n_full_blocks);
  // Registers `block` (filled with tokens[0 .. block_size)) as the child of `parent` (-1 for the
  // first block). A key already registered keeps its block.
  void register_block(int32_t block, int32_t parent, const int32_t* tokens);

 private:
  struct Key {
    int32_t parent;
    uint64_t parent_gen;
    std::vector<int32_t> tokens;
    bool operator==(const Key& o) const { return parent == o.parent && parent_gen == o.parent_gen && tokens == o.tokens; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept;
  };
  struct Meta {
    int32_t refs = 0;
    uint64_t gen = 0;            // bumped when the block is recycled
    bool registered = false;
    Key key;                      // valid when registered
    std::list<int32_t>::iterator lru_pos;  // valid when registered and refs == 0
  };
  void unregister(int32_t block);

  int64_t block_size_;
  int64_t used_ = 0;
  std::vector<Meta> meta_;
  std::vector<int32_t> free_;  // never registered (or unregistered), refcount 0
  std::list<int32_t> lru_;     // registered, refcount 0; front = least recently freed
  std::unordered_map<Key, int32_t, KeyHash> index_;
};

}  // namespace awqx::engine

// Llama-family causal LM (Llama-2/3, Mistral, Qwen2) for CPU inference, FP or AutoAWQ int4.
//
// Weights: FP linears stay as views of the memory-mapped safetensors (bf16 stays bf16); AWQ
// linears (config.json quantization_config, tensors <prefix>.qweight/qzeros/scales) are unpacked
// once and repacked by the kernel registry. A linear whose .qweight is absent stays FP, which is
// how modules_to_not_convert layers load.
// Fusion (fuse_layers, AutoAWQ's name): q/k/v become one linear (concatenated along n), gate/up
// one linear followed by a fused SiLU·mul; RoPE runs in place on the fused QKV output.
// Memory: the model's own KV cache (a KvPool of max_seq_len tokens, element type kv_type) and
// every activation buffer are allocated once at load; forward() does not allocate. Prompts
// longer than the internal chunk (chunk_size() tokens) are processed chunk by chunk.
// Batched steps: forward_batch() runs several sequences at once over a caller-owned paged
// KvPool (make_kv_pool), every linear as one GEMM over all their tokens; forward() is the
// same code with one sequence over the model's own pool, so a sequence's logits do not depend
// on what runs beside it when the kernels are row-independent (see forward_batch).
// Thread-compatibility: one Model is used by one thread at a time; it parallelizes internally.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "awqx/config.hpp"
#include "awqx/kv_cache.hpp"

namespace awqx {

struct LoadOptions {
  std::string backend;      // "" = registry's choice; else a kernel name forced for every int4 linear
  bool fuse_layers = true;  // fused QKV and gate/up (AutoAWQ fuse_layers)
  // KV-cache capacity in tokens. 0 = config max_position_embeddings, capped so the cache takes at
  // most a quarter of physical memory. A larger value than the config's is allowed (e.g. ppl at a
  // context longer than the trained one).
  int64_t max_seq_len = 0;
  // KV cache element type (f16/bf16 halve KV memory and the bytes attention reads).
  KvType kv_type = KvType::f16;
  // Tokens per forward step: prompts are prefilled in steps of this many tokens, and a batched
  // step (the engine's) holds at most this many. Larger steps amortize each weight read (and the
  // int4 unpack of the AMX and VNNI GEMMs) over more rows; activation memory grows with it
  // (about 125 MB at 512 for Llama-2-7B). 0 = 512, capped at max_seq_len.
  int64_t step_tokens = 0;
  // Called after each decoder layer is loaded (and repacked): (layers done, layers total).
  std::function<void(int64_t, int64_t)> progress;
};

// One sequence's part of a batched step (Model::forward_batch).
struct SeqChunk {
  const int32_t* tokens = nullptr;       // m new tokens at positions n_past .. n_past + m - 1
  int64_t m = 0;
  int64_t n_past = 0;                    // positions this sequence already has in the pool
  const int32_t* block_table = nullptr;  // pool blocks covering positions [0, n_past + m)
  bool want_logits = false;              // logits of the last of the m tokens
};

class Model {
 public:
  // Loads config.json + safetensors from dir. Throws Error{io} (missing files),
  // Error{unsupported_model} (architecture), Error{format|shape|dtype} naming file and tensor,
  // Error{unsupported_hardware} (forced backend unavailable), Error{invalid_argument}
  // (max_seq_len < 0).
  static std::unique_ptr<Model> load(const std::string& dir, const LoadOptions& opts = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const noexcept;
  int64_t vocab_size() const noexcept;
  int64_t max_seq_len() const noexcept;  // KV-cache capacity in tokens
  int64_t chunk_size() const noexcept;   // tokens per internal batch (prefill GEMM m)

  void reset() noexcept;           // empties the KV cache (n_past = 0)
  int64_t n_past() const noexcept;  // tokens already in the KV cache

  // Appends m >= 1 tokens at positions n_past..n_past+m-1 and advances n_past.
  // logits: [m][vocab] fp32 when all_logits, else [vocab] for the last token only.
  // Throws Error{invalid_argument} when a token id is outside [0, vocab) or when
  // n_past + m > max_seq_len() (KV cache full); nothing is changed in that case.
  void forward(const int32_t* tokens, int64_t m, float* logits, bool all_logits);

  // A paged KV pool for forward_batch (layout and element type of this model; kv_type as loaded).
  std::unique_ptr<KvPool> make_kv_pool(int64_t n_blocks, int64_t block_size) const;
  KvType kv_type() const noexcept;
  size_t kv_bytes_per_token() const noexcept;  // K + V, all layers

  // One step over n sequences: their tokens are concatenated (sum of m <= chunk_size()) and every
  // linear runs once over all of them; attention reads each sequence's blocks of `pool`, and the
  // new keys/values are written there. logits: [number of want_logits][vocab], in order.
  // Row-independence: every op except the linears computes each row alone; the linears are
  // row-independent with the exact fp32 kernels (--backend avx512/avx2/ref), so then a sequence's
  // logits are bitwise the same whatever is batched with it. Does not touch the model's own
  // cache (n_past()). Throws Error{invalid_argument} (too many tokens, a position past
  // max_seq_len(), a token id outside the vocabulary, a missing block table); nothing is
  // changed then.
  void forward_batch(const SeqChunk* seqs, int64_t n, KvPool& pool, float* logits);

  size_t weight_bytes() const noexcept;  // weight bytes read per decoded token (linears + lm_head)
  size_t kv_cache_bytes() const noexcept;
  std::string describe() const;          // multi-line: architecture, shapes, kernels per linear

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace awqx

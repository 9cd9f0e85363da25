// awqx::Engine — continuous-batching generation over one Model and a paged KV cache.
//
// One engine thread runs steps. A step is one Model::forward_batch over every running sequence:
// the next token of each decoding sequence plus at most `prefill_chunk` prompt tokens of the
// prefilling ones (chunked prefill), so each weight is read once per step for the whole batch.
// Sequences join and leave the batch at every step.
// KV memory is a pool of fixed-size blocks (KvPool) shared by all sequences; a sequence holds a
// block table. Full prompt blocks are hashed (hash of the whole prefix up to the block's end) and
// reused, reference-counted, by later requests with the same prefix (prefix caching).
// Admission: submit() queues a request (bounded by max_queue, else it is refused: HTTP 503);
// a queued request starts when the pool can hold its prompt plus one block.
// No HTTP here: src/serve/ puts this behind OpenAI-compatible routes.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "awqx/generate.hpp"
#include "awqx/kv_cache.hpp"
#include "awqx/model.hpp"
#include "awqx/tokenizer.hpp"

namespace awqx {

struct EngineOptions {
  int64_t kv_cache_mb = 0;       // KV pool size; 0 = room for max_batch sequences of 1024 tokens (capped at ctx)
  int64_t block_size = 16;       // tokens per KV block
  int64_t prefill_chunk = 256;   // prompt tokens per step, all prefilling sequences together
  int64_t max_batch = 16;        // running sequences at most
  int64_t max_queue = 64;        // waiting requests at most; beyond that submit() refuses
  bool prefix_cache = true;      // share block-aligned prompt prefixes between requests
};

struct GenRequest {
  std::vector<int32_t> prompt;    // token ids (BOS included when the tokenizer adds one); non-empty
  int64_t max_tokens = 16;        // >= 1; prompt + max_tokens must fit the model's context
  SamplingOptions sampling;
  std::vector<std::string> stop;  // stop strings: generation ends before the first occurrence
  bool ignore_eos = false;
};

enum class FinishReason { none, stop, length, cancelled, error };
const char* finish_reason_name(FinishReason r) noexcept;  // "stop", "length", "cancelled", "error"

// What a request's stream yields: text pieces as they are decoded, then one final event.
struct StreamEvent {
  std::string text;               // new text (UTF-8 complete pieces; may be empty)
  std::vector<int32_t> tokens;    // the token ids this text came from
  bool done = false;              // last event of the stream
  FinishReason finish = FinishReason::none;  // set when done
  std::string error;              // set when finish == error
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_prompt_tokens = 0;  // set when done
};

// One request's output channel, shared by the engine thread (producer) and the caller.
class RequestStream {
 public:
  virtual ~RequestStream() = default;
  // Waits up to timeout for the next event; false on timeout. After the done event, returns
  // false at once.
  virtual bool next(StreamEvent& ev, std::chrono::milliseconds timeout) = 0;
  // Client gone: the engine drops the sequence at its next step and frees its KV blocks; a
  // final event with FinishReason::cancelled is still delivered.
  virtual void cancel() = 0;
  virtual uint64_t id() const = 0;
};

struct EngineMetrics {
  uint64_t requests_total = 0, requests_finished = 0, requests_cancelled = 0, requests_rejected = 0;
  uint64_t prompt_tokens_total = 0, generated_tokens_total = 0, cached_prompt_tokens_total = 0;
  uint64_t steps_total = 0;
  double forward_seconds_total = 0;  // time inside Model::forward_batch (the rest of a step's wall time is
                                     // scheduling, sampling, streaming, or the engine thread waiting for a CPU)
  int64_t queue_length = 0, running = 0, last_batch_tokens = 0, last_batch_seqs = 0;
  int64_t kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_cached = 0;  // cached: free but holding a reusable prefix
  double generated_tokens_per_s = 0;  // over the last ~5 s
};

class Engine {
 public:
  // The model and tokenizer must outlive the engine. Throws Error{invalid_argument} for bad
  // options (naming the option, e.g. "kv_cache_mb") and when the pool cannot hold one block per
  // sequence.
  Engine(Model& model, const Tokenizer& tokenizer, const EngineOptions& opts);
  ~Engine();  // cancels whatever is still running, joins the engine thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Throws Error{invalid_argument} naming the field ("prompt", "max_tokens")
  // when it can never run (empty, longer than the context, more tokens than the pool holds).
  // Returns nullptr when the queue is full or the engine is shutting down (caller answers 503).
  std::shared_ptr<RequestStream> submit(GenRequest req);

  // Stops accepting, lets running and queued requests finish for up to grace, then cancels the
  // rest (their streams end with FinishReason::cancelled). Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  EngineMetrics metrics() const;
  int64_t context_length() const noexcept;  // max prompt + generated tokens of one request
  const EngineOptions& options() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace awqx

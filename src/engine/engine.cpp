// Engine (include/awqx/engine.hpp): the scheduler loop.
// Each step, under the lock: drop cancelled sequences, admit queued requests while there are
// batch slots and blocks for their prompt (after prefix reuse), then build the batch — one token
// per decoding sequence first (decode latency never waits behind a prompt), then prompt chunks
// of prefilling sequences in arrival order up to prefill_chunk tokens and the model's step size.
// The forward pass runs without the lock; sampling, stop checks and events follow.
// Out of blocks mid-decode: the most recently admitted sequence is preempted (its blocks freed,
// its tokens kept) and recomputed later, as vLLM does; the oldest always progresses.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "engine/block_manager.hpp"
#include "engine/request_stream.hpp"
#include "engine/stop_text.hpp"

namespace awqx {

const char* finish_reason_name(FinishReason r) noexcept {
  switch (r) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
    case FinishReason::error: return "error";
    default: return "none";
  }
}

namespace {
using Clock = std::chrono::steady_clock;

struct Sequence {
  std::shared_ptr<engine::Channel> ch;
  GenRequest req;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t prompt_len = 0, n_cached = 0, generated = 0, cached_prompt = 0;
  int64_t registered_blocks = 0;  // leading prompt blocks already offered to the prefix cache
  std::vector<int32_t> table;
  Sampler sampler;
  StreamDecoder dec;
  engine::StopText stop;
  bool want_logits = false;  // in the current step

  Sequence(std::shared_ptr<engine::Channel> c, GenRequest r, int64_t vocab, const Tokenizer& tok)
      : ch(std::move(c)), req(std::move(r)), sampler(vocab, req.sampling), dec(tok, true), stop(req.stop) {
    tokens = req.prompt;
    prompt_len = static_cast<int64_t>(tokens.size());
    // The prompt goes through the stream decoder (not emitted) so the first generated piece
    // gets its leading space right, as awqx generate does.
    for (const int32_t id : req.prompt) dec.push(id);
  }
  bool prefilling() const { return n_cached < static_cast<int64_t>(tokens.size()) - 1 || generated == 0; }
};
}  // namespace

struct Engine::Impl {
  Model& model;
  const Tokenizer& tok;
  EngineOptions opts;
  std::unique_ptr<KvPool> pool;
  engine::BlockManager blocks;
  int64_t bs;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<Sequence>> queue;
  std::vector<std::unique_ptr<Sequence>> running;  // admission order
  bool accepting = true, stop_now = false;
  uint64_t next_id = 1;
  EngineMetrics m;
  std::deque<std::pair<Clock::time_point, int64_t>> rate;  // (step end, tokens generated) for tokens/s
  std::thread thread;

  std::vector<float> logits;
  std::vector<SeqChunk> batch;
  std::vector<Sequence*> batch_seqs;

  Impl(Model& md, const Tokenizer& t, const EngineOptions& o, int64_t n_blocks)
      : model(md), tok(t), opts(o), pool(md.make_kv_pool(n_blocks, o.block_size)), blocks(n_blocks, o.block_size),
        bs(o.block_size) {
    logits.resize(static_cast<size_t>(opts.max_batch * model.vocab_size()));
    m.kv_blocks_total = n_blocks;
  }

  int64_t blocks_for(int64_t tokens) const { return (tokens + bs - 1) / bs; }

  void finish(Sequence& s, FinishReason r, std::string error = {}) {
    StreamEvent ev;
    ev.text = s.stop.flush();
    ev.done = true;
    ev.finish = r;
    ev.error = std::move(error);
    ev.prompt_tokens = s.prompt_len;
    ev.completion_tokens = s.generated;
    ev.cached_prompt_tokens = s.cached_prompt;
    s.ch->push(std::move(ev));
    for (const int32_t b : s.table) blocks.release(b);
    s.table.clear();
    if (r == FinishReason::cancelled)
      ++m.requests_cancelled;
    else
      ++m.requests_finished;
  }

  // Frees a running sequence's blocks; it will recompute its tokens when blocks free up.
  void preempt(Sequence& s) {
    for (const int32_t b : s.table) blocks.release(b);
    s.table.clear();
    s.n_cached = 0;
    s.registered_blocks = 0;
  }

  // Gives s blocks for positions < upto; false (nothing changed) when the pool is exhausted.
  bool grow(Sequence& s, int64_t upto) {
    const int64_t need = blocks_for(upto) - static_cast<int64_t>(s.table.size());
    if (need <= 0) return true;
    if (need > blocks.available()) return false;
    for (int64_t i = 0; i < need; ++i) {
      const int32_t b = blocks.allocate();
      AWQX_CHECK(b >= 0);
      s.table.push_back(b);
    }
    return true;
  }

  // A sequence with no blocks (new or preempted) starts from the longest cached prefix, keeping
  // at least its last token to compute (its logits are needed).
  void attach_prefix(Sequence& s) {
    if (!opts.prefix_cache || !s.table.empty()) return;
    const int64_t full = (static_cast<int64_t>(s.tokens.size()) - 1) / bs;
    s.table = blocks.match_prefix(s.tokens.data(), full);
    s.n_cached = static_cast<int64_t>(s.table.size()) * bs;
    s.registered_blocks = static_cast<int64_t>(s.table.size());
    if (s.generated == 0) s.cached_prompt = s.n_cached;
  }

  // Blocks that admitted sequences still need to finish their prompts (not yet allocated).
  int64_t pending_prompt_blocks() const {
    int64_t p = 0;
    for (const auto& s : running)
      if (s->prefilling())
        p += std::max<int64_t>(0, blocks_for(static_cast<int64_t>(s->tokens.size()) + 1) -
                                      static_cast<int64_t>(s->table.size()));
    return p;
  }

  void admit() {
    int64_t pending = pending_prompt_blocks();
    while (!queue.empty() && static_cast<int64_t>(running.size()) < opts.max_batch) {
      Sequence& s = *queue.front();
      if (s.ch->cancelled()) {
        finish(s, FinishReason::cancelled);
        queue.pop_front();
        continue;
      }
      attach_prefix(s);
      // Room for the rest of the prompt plus one block to decode into.
      const int64_t need = blocks_for(static_cast<int64_t>(s.tokens.size()) + 1) - static_cast<int64_t>(s.table.size());
      if (need + pending > blocks.available()) {
        preempt(s);  // hand back the prefix blocks it took; try again next step
        break;
      }
      pending += need;
      m.cached_prompt_tokens_total += static_cast<uint64_t>(s.cached_prompt);
      running.push_back(std::move(queue.front()));
      queue.pop_front();
    }
  }

  // Builds this step's batch (under the lock). Returns false when nothing can run.
  bool plan() {
    batch.clear();
    batch_seqs.clear();
    const int64_t budget = model.chunk_size();
    int64_t used = 0;
    // Decoders first: one token each. Out of blocks: preempt the newest until the rest fit.
    for (size_t i = 0; i < running.size(); ++i) {
      Sequence& s = *running[i];
      if (s.prefilling()) continue;
      while (!grow(s, s.n_cached + 1)) {
        Sequence* victim = nullptr;
        for (size_t j = running.size(); j-- > i + 1;)  // only newer ones: older ones may be in the batch
          if (!running[j]->table.empty()) {
            victim = running[j].get();
            break;
          }
        if (!victim) break;
        preempt(*victim);
      }
      if (static_cast<int64_t>(s.table.size()) * bs <= s.n_cached) continue;  // still no block: wait
      if (used + 1 > budget) break;
      add(s, 1, true);
      ++used;
    }
    int64_t prefill_left = std::min(opts.prefill_chunk, budget - used);
    for (auto& sp : running) {
      Sequence& s = *sp;
      if (!s.prefilling() || prefill_left <= 0) continue;
      if (s.table.empty()) attach_prefix(s);
      const int64_t left = static_cast<int64_t>(s.tokens.size()) - s.n_cached;
      int64_t take = std::min(left, prefill_left);
      const int64_t can = std::min(s.n_cached + take, static_cast<int64_t>(blocks.available() + s.table.size()) * bs);
      take = std::min(take, can - s.n_cached);
      if (take <= 0 || !grow(s, s.n_cached + take)) continue;
      add(s, take, take == left);
      prefill_left -= take;
    }
    return !batch.empty();
  }

  void add(Sequence& s, int64_t take, bool want) {
    SeqChunk c;
    c.tokens = s.tokens.data() + s.n_cached;
    c.m = take;
    c.n_past = s.n_cached;
    c.block_table = s.table.data();
    c.want_logits = want;
    s.want_logits = want;
    batch.push_back(c);
    batch_seqs.push_back(&s);
  }

  // After the forward pass (under the lock): advance, register full prompt blocks, sample.
  void absorb(int64_t step_tokens) {
    int64_t li = 0, produced = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      Sequence& s = *batch_seqs[i];
      s.n_cached += batch[i].m;
      if (opts.prefix_cache) {
        const int64_t full = std::min(s.n_cached, s.prompt_len) / bs;
        for (; s.registered_blocks < full; ++s.registered_blocks) {
          const size_t b = static_cast<size_t>(s.registered_blocks);
          blocks.register_block(s.table[b], b ? s.table[b - 1] : -1, s.tokens.data() + b * bs);
        }
      }
      if (!s.want_logits) continue;
      const float* row = logits.data() + (li++) * model.vocab_size();
      if (s.n_cached < static_cast<int64_t>(s.tokens.size())) continue;  // recomputing after preemption
      const int32_t id = s.sampler.sample(row);
      s.tokens.push_back(id);
      ++s.generated;
      ++produced;
      StreamEvent ev;
      ev.tokens.push_back(id);
      const bool eos = !s.req.ignore_eos && tok.is_eos(id);
      if (!eos) ev.text = s.stop.push(s.dec.push(id));
      s.ch->push(std::move(ev));  // every token, even one that decodes to no text yet
      if (eos || s.stop.hit()) {
        finish(s, FinishReason::stop);
      } else if (s.generated >= s.req.max_tokens || static_cast<int64_t>(s.tokens.size()) >= model.max_seq_len()) {
        const std::string rest = s.dec.flush();
        if (!rest.empty()) {
          StreamEvent tail;
          tail.text = s.stop.push(rest);
          if (!tail.text.empty()) s.ch->push(std::move(tail));
        }
        finish(s, s.stop.hit() ? FinishReason::stop : FinishReason::length);
      } else {
        continue;
      }
      s.ch.reset();  // marks the sequence done
    }
    running.erase(std::remove_if(running.begin(), running.end(), [](const auto& s) { return !s->ch; }),
                  running.end());
    m.generated_tokens_total += static_cast<uint64_t>(produced);
    ++m.steps_total;
    m.last_batch_tokens = step_tokens;
    m.last_batch_seqs = static_cast<int64_t>(batch.size());
    const auto now = Clock::now();
    rate.emplace_back(now, produced);
    while (!rate.empty() && now - rate.front().first > std::chrono::seconds(5)) rate.pop_front();
  }

  void drop_cancelled() {
    for (auto& s : running)
      if (stop_now || s->ch->cancelled()) {
        finish(*s, FinishReason::cancelled);
        s->ch.reset();
      }
    running.erase(std::remove_if(running.begin(), running.end(), [](const auto& s) { return !s->ch; }),
                  running.end());
    if (stop_now) {
      for (auto& s : queue) finish(*s, FinishReason::cancelled);
      queue.clear();
    }
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      drop_cancelled();
      if (stop_now && running.empty() && queue.empty()) return;
      admit();
      if (!plan()) {
        cv.wait_for(lock, std::chrono::milliseconds(50));
        continue;
      }
      int64_t step_tokens = 0;
      for (const SeqChunk& c : batch) step_tokens += c.m;
      lock.unlock();
      std::string err;
      const auto t0 = Clock::now();
      try {
        model.forward_batch(batch.data(), static_cast<int64_t>(batch.size()), *pool, logits.data());
      } catch (const std::exception& e) {
        err = e.what();
      }
      const double forward_s = std::chrono::duration<double>(Clock::now() - t0).count();
      lock.lock();
      m.forward_seconds_total += forward_s;
      if (!err.empty()) {  // a bug, not user input (submit validated it): fail this batch's requests
        for (Sequence* s : batch_seqs) {
          finish(*s, FinishReason::error, err);
          s->ch.reset();
        }
        running.erase(std::remove_if(running.begin(), running.end(), [](const auto& s) { return !s->ch; }),
                      running.end());
        continue;
      }
      absorb(step_tokens);
    }
  }
};

Engine::Engine(Model& model, const Tokenizer& tokenizer, const EngineOptions& o) {
  auto bad = [](const char* field, const std::string& expected, int64_t v) {
    return Error::mismatch(ErrorCode::invalid_argument, "", field, expected, std::to_string(v));
  };
  if (o.block_size < 1 || o.block_size > 1024) throw bad("block_size", "1..1024", o.block_size);
  if (o.max_batch < 1 || o.max_batch > model.chunk_size())
    throw bad("max_batch", fmt::format("1..{} (the model's step size)", model.chunk_size()), o.max_batch);
  if (o.prefill_chunk < 1) throw bad("prefill_chunk", ">= 1", o.prefill_chunk);
  if (o.max_queue < 0) throw bad("max_queue", ">= 0", o.max_queue);
  if (o.kv_cache_mb < 0) throw bad("kv_cache_mb", ">= 0 (0 = automatic)", o.kv_cache_mb);
  const int64_t ctx = model.max_seq_len();
  const size_t block_bytes = model.kv_bytes_per_token() * static_cast<size_t>(o.block_size);
  int64_t n_blocks;
  if (o.kv_cache_mb > 0) {
    n_blocks = static_cast<int64_t>((static_cast<uint64_t>(o.kv_cache_mb) << 20) / block_bytes);
  } else {
    n_blocks = o.max_batch * ((std::min<int64_t>(ctx, 1024) + o.block_size - 1) / o.block_size);
    n_blocks = std::max(n_blocks, (ctx + o.block_size - 1) / o.block_size + 1);
  }
  if (n_blocks < o.max_batch)
    throw bad("kv_cache_mb", fmt::format("room for at least max_batch = {} blocks of {} KiB", o.max_batch,
                                         block_bytes >> 10),
              o.kv_cache_mb);
  impl_ = std::make_unique<Impl>(model, tokenizer, o, n_blocks);
  impl_->thread = std::thread([this] { impl_->loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->accepting = false;
    impl_->stop_now = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::shared_ptr<RequestStream> Engine::submit(GenRequest req) {
  Impl& s = *impl_;
  auto bad = [](const char* field, const std::string& expected, const std::string& found) {
    return Error::mismatch(ErrorCode::invalid_argument, "", field, expected, found);
  };
  const int64_t n = static_cast<int64_t>(req.prompt.size());
  if (n == 0) throw bad("prompt", "at least one token", "an empty prompt");
  for (const int32_t t : req.prompt)
    if (t < 0 || t >= s.model.vocab_size())
      throw bad("prompt", fmt::format("token ids in [0, {})", s.model.vocab_size()), std::to_string(t));
  if (req.max_tokens < 1) throw bad("max_tokens", ">= 1", std::to_string(req.max_tokens));
  if (n + req.max_tokens > s.model.max_seq_len())
    throw bad("max_tokens",
              fmt::format("prompt + max_tokens <= {} (the context length; the prompt has {} tokens)",
                          s.model.max_seq_len(), n),
              std::to_string(req.max_tokens));
  if (s.blocks_for(n + 1) > s.blocks.total())
    throw bad("prompt", fmt::format("a prompt that fits the KV pool ({} tokens)", s.blocks.total() * s.bs),
              fmt::format("{} tokens", n));
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.accepting || static_cast<int64_t>(s.queue.size()) >= s.opts.max_queue) {
    ++s.m.requests_rejected;
    return nullptr;
  }
  auto ch = std::make_shared<engine::Channel>(s.next_id++);
  ++s.m.requests_total;
  s.m.prompt_tokens_total += static_cast<uint64_t>(n);
  s.queue.push_back(std::make_unique<Sequence>(ch, std::move(req), s.model.vocab_size(), s.tok));
  s.cv.notify_all();
  return ch;
}

void Engine::shutdown(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mu);
  s.accepting = false;
  const auto deadline = Clock::now() + grace;
  while ((!s.running.empty() || !s.queue.empty()) && Clock::now() < deadline) {
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lock.lock();
  }
  s.stop_now = true;
  s.cv.notify_all();
}

EngineMetrics Engine::metrics() const {
  const Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mu);
  EngineMetrics out = s.m;
  out.queue_length = static_cast<int64_t>(s.queue.size());
  out.running = static_cast<int64_t>(s.running.size());
  out.kv_blocks_used = s.blocks.used();
  out.kv_blocks_cached = s.blocks.cached();
  if (s.rate.size() >= 2) {
    int64_t toks = 0;
    for (size_t i = 1; i < s.rate.size(); ++i) toks += s.rate[i].second;
    const double secs = std::chrono::duration<double>(s.rate.back().first - s.rate.front().first).count();
    out.generated_tokens_per_s = secs > 0 ? toks / secs : 0;
  }
  return out;
}

int64_t Engine::context_length() const noexcept { return impl_->model.max_seq_len(); }
const EngineOptions& Engine::options() const noexcept { return impl_->opts; }

}  // namespace awqx

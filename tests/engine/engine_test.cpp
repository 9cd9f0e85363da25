// Continuous batching engine on the tiny trained Llama: batched results equal single-sequence
// results (with the row-independent exact kernels), prefix reuse, preemption, cancellation,
// admission limits. Greedy references come from awqx::generate (what `awqx generate` runs).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "awqx/cpu.hpp"
#include "awqx/engine.hpp"
#include "awqx/error.hpp"
#include "awqx/generate.hpp"
#include "awqx/model.hpp"
#include "awqx/tokenizer.hpp"
#include "test_util.hpp"

namespace awqx {
namespace {

using namespace std::chrono_literals;

// The exact fp32 family this CPU has: with it every linear is row-independent.
std::string exact_backend() {
  if (cpu_info().has(Isa::avx512)) return "avx512";
  if (cpu_info().has(Isa::avx2)) return "avx2";
  return "ref";
}

SamplingOptions greedy_sampling() {
  SamplingOptions so;
  so.temperature = 0;
  return so;
}

struct Fixture {
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Model> model;
  explicit Fixture(KvType kv = KvType::f16, int64_t max_seq = 512) {
    const std::string dir = awqx_test::shared_path("models/tiny-llama-7m");
    tok = Tokenizer::load(dir);
    LoadOptions lo;
    lo.backend = exact_backend();
    lo.kv_type = kv;
    lo.max_seq_len = max_seq;
    model = Model::load(dir, lo);
  }
  std::vector<int32_t> reference(const std::vector<int32_t>& prompt, int64_t n, const SamplingOptions& so) {
    std::vector<int32_t> out;
    generate(*model, *tok, prompt, n, so, [&](int32_t id) {
      out.push_back(id);
      return true;
    });
    return out;
  }
  // The token ids of each of `texts` and its first n greedy tokens from generate() alone.
  std::pair<std::vector<std::vector<int32_t>>, std::vector<std::vector<int32_t>>> greedy_references(
      const std::vector<std::string>& texts, int64_t n) {
    std::vector<std::vector<int32_t>> ids, want;
    for (const auto& p : texts) {
      ids.push_back(tok->encode(p, true));
      want.push_back(reference(ids.back(), n, greedy_sampling()));
    }
    return {ids, want};
  }
};

struct Collected {
  std::vector<int32_t> tokens;
  std::string text;
  StreamEvent last;
};

Collected drain(RequestStream& s) {
  Collected c;
  StreamEvent ev;
  for (;;) {
    if (!s.next(ev, 60s)) ADD_FAILURE() << "stream timed out";
    c.tokens.insert(c.tokens.end(), ev.tokens.begin(), ev.tokens.end());
    c.text += ev.text;
    if (ev.done) {
      c.last = ev;
      return c;
    }
  }
}

bool tokens_end_with_eos(const Tokenizer& tok, const std::vector<int32_t>& t) {
  return !t.empty() && tok.is_eos(t.back());
}

std::vector<std::string> prompts() {
  return {"Once upon a time", "The history of the", "In 1998 the city council", "A",
          "The cat sat on the mat and looked at the", "Scientists have discovered that the",
          "He said that", "The river flows through the valley of the old kingdom, where"};
}

TEST(ModelBatch, ForwardBatchIsBitwiseSingleSequence) {
  Fixture f(KvType::f32);
  const auto a = f.tok->encode("Once upon a time there was a", true);
  const auto b = f.tok->encode("The history of", true);
  const int64_t V = f.model->vocab_size();
  // Reference: each sequence alone through forward() (the model's own cache).
  std::vector<float> ra(V), rb(V);
  f.model->reset();
  f.model->forward(a.data(), static_cast<int64_t>(a.size()), ra.data(), false);
  f.model->reset();
  f.model->forward(b.data(), static_cast<int64_t>(b.size()), rb.data(), false);
  // Batched: a in two chunks (3 tokens, then the rest beside all of b), scattered blocks.
  auto pool = f.model->make_kv_pool(16, 4);
  const std::vector<int32_t> ta = {7, 2, 12, 5}, tb = {3, 9, 0, 15};
  std::vector<float> out(2 * V);
  SeqChunk c1{a.data(), 3, 0, ta.data(), false};
  f.model->forward_batch(&c1, 1, *pool, out.data());
  SeqChunk c2[2] = {{a.data() + 3, static_cast<int64_t>(a.size()) - 3, 3, ta.data(), true},
                    {b.data(), static_cast<int64_t>(b.size()), 0, tb.data(), true}};
  f.model->forward_batch(c2, 2, *pool, out.data());
  for (int64_t i = 0; i < V; ++i) {
    ASSERT_EQ(out[i], ra[i]) << "seq a logit " << i;
    ASSERT_EQ(out[V + i], rb[i]) << "seq b logit " << i;
  }
  // Bad input names the field and changes nothing.
  const std::vector<int32_t> bad_table = {99};
  SeqChunk bad{b.data(), 1, 0, bad_table.data(), true};
  try {
    f.model->forward_batch(&bad, 1, *pool, out.data());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "block_table");
  }
}

// 16-bit KV vs f32 on the same prompt: logits stay close (bf16 keeps 8 bits of mantissa, f16 11)
// and they are not identical (the test would not notice a KV type that is ignored otherwise).
TEST(ModelBatch, SixteenBitKvStaysCloseToF32) {
  const auto run = [](KvType t) {
    Fixture f(t);
    const auto ids = f.tok->encode("The river flows through the valley of the old kingdom, where the king", true);
    std::vector<float> lg(f.model->vocab_size());
    f.model->forward(ids.data(), static_cast<int64_t>(ids.size()), lg.data(), false);
    return lg;
  };
  const auto ref = run(KvType::f32);
  for (KvType t : {KvType::f16, KvType::bf16}) {
    const auto got = run(t);
    double max_diff = 0, max_abs = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      max_diff = std::max(max_diff, double(std::fabs(got[i] - ref[i])));
      max_abs = std::max(max_abs, double(std::fabs(ref[i])));
    }
    EXPECT_GT(max_diff, 0.0) << kv_type_name(t);
    EXPECT_LT(max_diff, (t == KvType::f16 ? 0.01 : 0.08) * max_abs) << kv_type_name(t);
  }
}

TEST(Engine, ConcurrentGreedyEqualsGenerateAlone) {
  Fixture f;
  const SamplingOptions greedy = greedy_sampling();
  const auto [ids, want] = f.greedy_references(prompts(), 24);
  EngineOptions eo;
  eo.max_batch = 5;  // fewer slots than requests: some wait in the queue
  eo.prefill_chunk = 7;  // prompts are prefilled in several chunks beside running decodes
  Engine eng(*f.model, *f.tok, eo);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& p : ids) {
    GenRequest r;
    r.prompt = p;
    r.max_tokens = 24;
    r.sampling = greedy;
    streams.push_back(eng.submit(r));
    ASSERT_TRUE(streams.back());
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    const Collected c = drain(*streams[i]);
    EXPECT_EQ(c.tokens, want[i]) << prompts()[i];
    EXPECT_EQ(c.last.completion_tokens, static_cast<int64_t>(want[i].size()));
    EXPECT_EQ(c.last.prompt_tokens, static_cast<int64_t>(ids[i].size()));
    EXPECT_STREQ(finish_reason_name(c.last.finish),
                 tokens_end_with_eos(*f.tok, want[i]) ? "stop" : "length");
  }
  const EngineMetrics m = eng.metrics();
  EXPECT_EQ(m.requests_finished, ids.size());
  EXPECT_EQ(m.kv_blocks_used, 0);
  EXPECT_GT(m.steps_total, 0u);
}

TEST(Engine, SampledOutputEqualsGenerateWithSameSeed) {
  Fixture f;
  SamplingOptions so;
  so.temperature = 0.9f;
  so.seed = 1234;
  const auto ids = f.tok->encode("Once upon a time", true);
  const auto want = f.reference(ids, 20, so);
  Engine eng(*f.model, *f.tok, EngineOptions{});
  GenRequest r{ids, 20, so, {}, false};
  auto other = eng.submit(GenRequest{f.tok->encode("Noise beside it", true), 20, so, {}, false});
  auto s = eng.submit(r);
  EXPECT_EQ(drain(*s).tokens, want);
  drain(*other);
}

TEST(Engine, PrefixReuseGivesSameOutputAndSkipsCachedBlocks) {
  Fixture f;
  const SamplingOptions greedy = greedy_sampling();
  std::string sys;
  for (int i = 0; i < 12; ++i) sys += "The quick brown fox jumps over the lazy dog. ";
  const auto ids = f.tok->encode(sys + "Then", true);
  const auto want = f.reference(ids, 12, greedy);
  EngineOptions eo;
  eo.block_size = 8;
  Engine eng(*f.model, *f.tok, eo);
  const Collected first = drain(*eng.submit(GenRequest{ids, 12, greedy, {}, false}));
  const Collected second = drain(*eng.submit(GenRequest{ids, 12, greedy, {}, false}));
  EXPECT_EQ(first.tokens, want);
  EXPECT_EQ(second.tokens, want);
  EXPECT_EQ(first.last.cached_prompt_tokens, 0);
  EXPECT_EQ(second.last.cached_prompt_tokens, (static_cast<int64_t>(ids.size()) - 1) / 8 * 8);
  EXPECT_GT(eng.metrics().kv_blocks_cached, 0);
  EXPECT_EQ(eng.metrics().kv_blocks_used, 0);
}

TEST(Engine, TinyPoolPreemptsAndStillMatches) {
  EngineOptions eo;
  eo.block_size = 4;
  eo.max_batch = 6;
  // Fewer blocks than 6 sequences at full length: decodes run the pool dry and the newest is preempted.
  eo.kv_cache_mb = 1;
  Fixture f;
  const auto [ids, want] = f.greedy_references(prompts(), 64);
  const SamplingOptions greedy = greedy_sampling();
  const size_t block_bytes = f.model->kv_bytes_per_token() * 4;
  ASSERT_LT(static_cast<int64_t>((1u << 20) / block_bytes), 6 * 64 / 4) << "pool too large to force preemption";
  Engine eng(*f.model, *f.tok, eo);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& p : ids) streams.push_back(eng.submit(GenRequest{p, 64, greedy, {}, false}));
  for (size_t i = 0; i < streams.size(); ++i) EXPECT_EQ(drain(*streams[i]).tokens, want[i]) << prompts()[i];
  EXPECT_EQ(eng.metrics().kv_blocks_used, 0);
}

TEST(Engine, CancelFreesBlocksAndQueueIsBounded) {
  Fixture f;
  EngineOptions eo;
  eo.max_batch = 1;
  eo.max_queue = 2;
  Engine eng(*f.model, *f.tok, eo);
  const auto ids = f.tok->encode("Once upon a time", true);
  SamplingOptions so;
  GenRequest r{ids, 400, so, {}, true};
  auto a = eng.submit(r);
  // Once a runs, the next two wait in the queue and a fourth is refused (a fixed sleep raced
  // with the scheduler on a loaded machine).
  for (auto until = std::chrono::steady_clock::now() + 60s;
       eng.metrics().running < 1 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(2ms);
  ASSERT_EQ(eng.metrics().running, 1);
  auto b = eng.submit(r), c = eng.submit(r);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(eng.submit(r), nullptr);  // queue full: the HTTP layer answers 503
  EXPECT_EQ(eng.metrics().requests_rejected, 1u);
  StreamEvent ev;
  ASSERT_TRUE(a->next(ev, 60s));  // it produced something
  for (auto* s : {a.get(), b.get(), c.get()}) s->cancel();
  for (auto* s : {a.get(), b.get(), c.get()}) EXPECT_EQ(drain(*s).last.finish, FinishReason::cancelled);
  // The engine frees a cancelled sequence's blocks at its next step.
  for (auto until = std::chrono::steady_clock::now() + 30s;
       (eng.metrics().kv_blocks_used > 0 || eng.metrics().running > 0) && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(eng.metrics().kv_blocks_used, 0);
  EXPECT_EQ(eng.metrics().running, 0);
}

TEST(Engine, StopStringsEndTheTextBeforeTheStop) {
  Fixture f;
  const SamplingOptions greedy = greedy_sampling();
  const auto ids = f.tok->encode("Once upon a time", true);
  Engine eng(*f.model, *f.tok, EngineOptions{});
  const Collected full = drain(*eng.submit(GenRequest{ids, 30, greedy, {}, true}));
  ASSERT_GT(full.text.size(), 12u);
  const std::string stop = full.text.substr(8, 4);  // a string the greedy text contains
  const Collected cut = drain(*eng.submit(GenRequest{ids, 30, greedy, {stop}, true}));
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(cut.last.finish, FinishReason::stop);
}

TEST(Engine, BadRequestsAndOptionsNameTheField) {
  Fixture f(KvType::f16, 64);
  Engine eng(*f.model, *f.tok, EngineOptions{});
  auto field_of = [&](GenRequest r) {
    try {
      eng.submit(std::move(r));
    } catch (const Error& e) {
      return e.field();
    }
    return std::string("none");
  };
  SamplingOptions so;
  EXPECT_EQ(field_of(GenRequest{{}, 4, so, {}, false}), "prompt");
  EXPECT_EQ(field_of(GenRequest{{1, 2}, 0, so, {}, false}), "max_tokens");
  EXPECT_EQ(field_of(GenRequest{{1, 2}, 63, so, {}, false}), "max_tokens");
  EXPECT_EQ(field_of(GenRequest{{1, -5}, 4, so, {}, false}), "prompt");
  EngineOptions bad;
  bad.block_size = 0;
  EXPECT_THROW(Engine(*f.model, *f.tok, bad), Error);
  bad = EngineOptions{};
  bad.max_batch = 100000;
  EXPECT_THROW(Engine(*f.model, *f.tok, bad), Error);
}

}  // namespace
}  // namespace awqx

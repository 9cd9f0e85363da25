// The split AWQ search in one process: N threads act as ranks through a Comm test double, each
// holding only its calibration blocks (issue 15). The scaled and clipped weights, the report
// and the clip choices must be the same bits as one process holding every block, for N = 2, 3
// and 5 (uneven shares, a rank with no check block), with and without the check set, in fp32
// and bf16. Runs in every build (the sanitizer tree has no MPI), so the gather logic is checked
// under ASan too.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "awqx/comm.hpp"
#include "awqx/cpu.hpp"
#include "quant/awq.hpp"

namespace {

using namespace awqx::quant;

// Ranks as threads: every collective is a pair of barriers around a shared slot table.
struct ThreadGroup {
  explicit ThreadGroup(int n) : n(n), slots(static_cast<size_t>(n)) {}
  int n;
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t generation = 0;
  std::vector<std::vector<uint8_t>> slots;

  void barrier(std::unique_lock<std::mutex>& lk) {
    const uint64_t gen = generation;
    if (++arrived == n) {
      arrived = 0;
      ++generation;
      cv.notify_all();
    } else {
      cv.wait(lk, [&] { return generation != gen; });
    }
  }
};

class ThreadComm final : public awqx::Comm {
 public:
  ThreadComm(ThreadGroup& g, int rank) : g_(g), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_.n; }
  std::vector<uint8_t> allgather(const void* data, size_t bytes) override {
    std::unique_lock<std::mutex> lk(g_.m);
    const auto* p = static_cast<const uint8_t*>(data);
    g_.slots[static_cast<size_t>(rank_)].assign(p, p + bytes);
    g_.barrier(lk);
    std::vector<uint8_t> out;
    for (const auto& s : g_.slots) out.insert(out.end(), s.begin(), s.end());
    g_.barrier(lk);
    return out;
  }
  void broadcast(std::vector<uint8_t>& data, int root) override {
    std::unique_lock<std::mutex> lk(g_.m);
    if (rank_ == root) g_.slots[static_cast<size_t>(root)] = data;
    g_.barrier(lk);
    data = g_.slots[static_cast<size_t>(root)];
    g_.barrier(lk);
  }

 private:
  ThreadGroup& g_;
  int rank_;
};

std::vector<float> randn(size_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Case {
  LayerShape s;
  LayerWeights w;
  std::vector<float> x;  // layer input, all blocks
  awqx::ops::RopeTable rope;
  int64_t nb = 7, L = 16;
};

Case make_case() {
  Case c;
  c.s.hidden = 64;
  c.s.inter = 96;
  c.s.n_heads = 4;
  c.s.n_kv = 4;  // MHA: the v -> o group is searched too
  c.s.head_dim = 16;
  c.s.eps = 1e-5f;
  c.w.ln1 = std::vector<float>(64, 1.0f);
  c.w.ln2 = std::vector<float>(64, 1.0f);
  for (int ch : {5, 33}) c.w.ln1[ch] = c.w.ln2[ch] = 9.0f;  // outlier channels: scales matter
  uint32_t seed = 7;
  for (int i = 0; i < kNumLin; ++i)
    c.w.w[i] = randn(static_cast<size_t>(c.s.out_features(i) * c.s.in_features(i)), seed++, 0.1f);
  c.x = randn(static_cast<size_t>(c.nb * c.L * 64), 99, 1.0f);
  c.rope = awqx::ops::RopeTable(16, 10000.0f, {}, c.L);
  return c;
}

struct Result {
  LayerWeights w;
  AwqLayerReport rep;
};

// Forward of this rank's blocks, then the search with the given block split.
Result run(const Case& c, const AwqParams& p, const Blocks& bl) {
  const int64_t rows = bl.rows(), h = c.s.hidden;
  std::vector<float> y(static_cast<size_t>(rows * h));
  LayerInputs rec;
  Result r{c.w, {}};
  layer_forward(r.w, c.s, c.rope, c.x.data() + bl.first * c.L * h, bl.count, c.L, y.data(), &rec);
  awq_scale_and_clip(r.w, c.s, c.rope, rec, bl, p, &r.rep);
  return r;
}

void expect_same(const Result& a, const Result& b, const std::string& what) {
  EXPECT_EQ(a.w.ln1, b.w.ln1) << what;
  EXPECT_EQ(a.w.ln2, b.w.ln2) << what;
  for (int l = 0; l < kNumLin; ++l) EXPECT_TRUE(a.w.w[l] == b.w.w[l]) << what << " linear " << kLinNames[l];
  EXPECT_EQ(0, std::memcmp(a.rep.loss, b.rep.loss, sizeof a.rep.loss)) << what;
  EXPECT_EQ(0, std::memcmp(a.rep.best_ratio, b.rep.best_ratio, sizeof a.rep.best_ratio)) << what;
  EXPECT_EQ(0, std::memcmp(a.rep.check, b.rep.check, sizeof a.rep.check)) << what;
  EXPECT_EQ(0, std::memcmp(a.rep.clip_kept, b.rep.clip_kept, sizeof a.rep.clip_kept)) << what;
  EXPECT_EQ(0, std::memcmp(a.rep.clip_dropped, b.rep.clip_dropped, sizeof a.rep.clip_dropped)) << what;
}

TEST(DistributedSearch, SameBitsAsOneProcessForAnyRankCount) {
  const Case c = make_case();
  std::vector<MatPrecision> precs = {MatPrecision::fp32};
  const awqx::CpuInfo& cpu = awqx::cpu_info();
  if ((cpu.avx512bf16 && cpu.has(awqx::Isa::avx512)) || cpu.amx_bf16)
    precs.push_back(MatPrecision::bf16);
  else
    std::printf("[   INFO   ] bf16 search not checked: the CPU has neither AVX512-BF16 nor AMX-BF16\n");
  for (MatPrecision prec : precs)
    for (int64_t n_check : {0, 3}) {
      AwqParams p;
      p.q.group_size = 32;
      p.precision = prec;
      p.identity_scale = true;
      p.n_check_blocks = n_check;
      const Result ref = run(c, p, Blocks::all(c.nb, c.L));
      EXPECT_GT(ref.rep.clip_kept[kDown], 0) << "the clip search must change something to be compared";
      for (int ranks : {2, 3, 5}) {
        ThreadGroup g(ranks);
        std::vector<Result> res(static_cast<size_t>(ranks));
        std::vector<std::thread> th;
        for (int r = 0; r < ranks; ++r)
          th.emplace_back([&, r] {
            ThreadComm comm(g, r);
            const awqx::Share sh = awqx::share_of(c.nb, r, ranks);
            res[static_cast<size_t>(r)] = run(c, p, Blocks{c.nb, sh.begin, sh.count(), c.L, &comm});
          });
        for (auto& t : th) t.join();
        for (int r = 0; r < ranks; ++r)
          expect_same(ref, res[static_cast<size_t>(r)],
                      "ranks " + std::to_string(ranks) + " rank " + std::to_string(r) + " check " +
                          std::to_string(n_check) + (prec == MatPrecision::bf16 ? " bf16" : " fp32"));
      }
    }
}

TEST(DistributedSearch, ShareOfCoversEveryItemOnce) {
  for (int64_t n : {0, 1, 7, 64})
    for (int size : {1, 2, 3, 8}) {
      int64_t next = 0;
      for (int r = 0; r < size; ++r) {
        const awqx::Share s = awqx::share_of(n, r, size);
        EXPECT_EQ(s.begin, next);
        EXPECT_LE(s.count(), n / size + 1);
        EXPECT_GE(s.count(), n / size);
        next = s.end;
      }
      EXPECT_EQ(next, n);
    }
}

}  // namespace

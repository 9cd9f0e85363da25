// Causal attention (ops::attention) on Llama-2-7B heads (32 × 128): prefill of m new rows over
// an empty cache, and decode (m = 1) over a long one; decode also with Llama-3-8B's GQA (32 query
// heads on 8 kv heads). Two cache layouts: the calibrator's
// token-major fp32 rows and the engine's paged f16 pool (16 positions a block, shuffled table).
// Counter FLOP/s counts the useful work, 4·head_dim per (row, visible key) per head.
//   build/attention_bench --threads 2 --benchmark_filter=prefill
#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "awqx/half.hpp"
#include "bench_common.hpp"
#include "model/ops.hpp"

namespace {

constexpr int kHeads = 32, kHeadDim = 128;
constexpr int64_t kRow = int64_t{kHeads} * kHeadDim;  // one position's queries

struct Cache {
  std::vector<float> kf, vf;
  std::vector<uint16_t> kh, vh;
  std::vector<int32_t> table;
  awqx::ops::KvRows rows{nullptr, nullptr};
};

// n_pos positions of kv_heads heads; paged: [block][head][slot][dim] f16 blocks of 16 in a
// shuffled table, else token-major fp32 rows.
Cache make_cache(int64_t n_pos, bool paged, int kv_heads) {
  const int64_t kv_row = int64_t{kv_heads} * kHeadDim;
  Cache c;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t bs = 16, n_blocks = (n_pos + bs - 1) / bs;
  const int64_t n = paged ? n_blocks * bs * kv_row : n_pos * kv_row;
  c.kf.resize(static_cast<size_t>(n));
  c.vf.resize(static_cast<size_t>(n));
  for (auto& x : c.kf) x = nd(rng);
  for (auto& x : c.vf) x = nd(rng);
  if (!paged) {
    c.rows = {c.kf.data(), c.vf.data()};
    c.rows.pos_stride = kv_row;
    c.rows.head_stride = kHeadDim;
    return c;
  }
  c.kh.resize(c.kf.size());
  c.vh.resize(c.vf.size());
  for (size_t i = 0; i < c.kf.size(); ++i) {
    c.kh[i] = awqx::f32_to_f16(c.kf[i]);
    c.vh[i] = awqx::f32_to_f16(c.vf[i]);
  }
  c.table.resize(static_cast<size_t>(n_blocks));
  std::iota(c.table.begin(), c.table.end(), 0);
  std::shuffle(c.table.begin(), c.table.end(), rng);
  c.rows = {c.kh.data(), c.vh.data()};
  c.rows.table = c.table.data();
  c.rows.block_size = bs;
  c.rows.block_stride = bs * kv_row;
  c.rows.pos_stride = kHeadDim;
  c.rows.head_stride = bs * kHeadDim;
  c.rows.type = awqx::KvType::f16;
  return c;
}

void run(benchmark::State& st, int64_t m, int64_t n_past, bool paged, int kv_heads) {
  const Cache c = make_cache(n_past + m, paged, kv_heads);
  const auto q = awqx_bench::random_x(m, kRow);
  std::vector<float> out(static_cast<size_t>(m * kRow));
  for (auto _ : st) {
    awqx::ops::attention(q.data(), m, kRow, c.rows, n_past, kHeads, kv_heads, kHeadDim, out.data(), kRow);
    benchmark::ClobberMemory();
  }
  double pairs = 0;  // (row, visible key) pairs
  for (int64_t i = 0; i < m; ++i) pairs += static_cast<double>(n_past + i + 1);
  st.counters["FLOP/s"] =
      benchmark::Counter(4.0 * kHeadDim * kHeads * pairs, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  auto args = awqx_bench::take_threads_flag(argc, argv);
  int n = static_cast<int>(args.size());
  for (bool paged : {false, true}) {
    const char* layout = paged ? "paged_f16" : "rows_f32";
    for (const auto& [m, past] : {std::pair<int64_t, int64_t>{512, 0}, {128, 384}})
      benchmark::RegisterBenchmark(
          (std::string("prefill/") + layout + "/m" + std::to_string(m) + "_past" + std::to_string(past)).c_str(), run,
          m, past, paged, kHeads)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    for (int kv_heads : {kHeads, 8})
      benchmark::RegisterBenchmark(
          (std::string("decode/") + layout + (kv_heads == kHeads ? "" : "_gqa8") + "/past4096").c_str(), run,
          int64_t{1}, int64_t{4096}, paged, kv_heads)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
  }
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}

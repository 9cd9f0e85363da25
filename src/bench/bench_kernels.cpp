// awqx bench-kernels (include/awqx/bench_kernels.hpp): the measurement loop. Each cell packs
// once, clones into enough cold copies to cover >= 4× L3 (so every timed run streams weights from
// DRAM, as in decode), does one warm-up run, then times `repeats` runs and keeps the median.
#include "awqx/bench_kernels.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "awqx/cpu.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/half.hpp"
#include "awqx/kernels.hpp"
#include "awqx/parallel.hpp"
#include "bench/kernel_bench.hpp"
#include "kernels/onednn_util.hpp"

namespace awqx {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kF32 = "onednn_f32_matmul";
constexpr const char* kBf16 = "onednn_bf16_matmul";
constexpr const char* kU8s8 = "onednn_u8s8_matmul";

Error bad_flag(const std::string& flag, const std::string& msg) {
  return Error(ErrorCode::invalid_argument, "", flag, msg);
}

struct ShapeSpec {
  int64_t k, n;
  std::string label;
};

std::vector<ShapeSpec> shapes_of(const BenchKernelsOptions& o) {
  if (o.k == 0 && o.n == 0) {
    std::vector<ShapeSpec> v;
    for (const auto& s : bench::kLlamaShapes) v.push_back({s.k, s.n, s.label});
    return v;
  }
  const int64_t k = o.k ? o.k : 4096, n = o.n ? o.n : 4096;
  return {{k, n, fmt::format("{}to{}", k, n)}};
}

int group_of(const BenchKernelsOptions& o, int64_t k) { return o.group_size == -1 ? static_cast<int>(k) : o.group_size; }

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= s.size()) {
    const size_t e = std::min(s.find(',', b), s.size());
    if (e > b) out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Registry entries selected by --kernels ("all", exact names or family names).
std::vector<const kernels::KernelEntry*> selected_kernels(const std::string& spec, bool& explicit_sel) {
  const auto& entries = kernels::registry().entries();
  std::vector<const kernels::KernelEntry*> out;
  explicit_sel = lower(spec) != "all";
  if (!explicit_sel) {
    for (const auto& e : entries) out.push_back(&e);
    return out;
  }
  std::set<const kernels::KernelEntry*> seen;
  for (const std::string& raw : split_csv(spec)) {
    const std::string name = lower(raw == "avx512-vnni" ? "avx512vnni" : raw);
    bool found = false;
    for (const auto& e : entries)
      if (lower(e.name) == name || lower(e.family) == name) {
        found = true;
        if (seen.insert(&e).second) out.push_back(&e);
      }
    if (!found && name != lower(kF32) && name != lower(kBf16)) {
      std::string names;
      for (const auto& e : entries) names += std::string(names.empty() ? "" : ", ") + e.name;
      throw bad_flag("--kernels", fmt::format("unknown kernel '{}' (expected all, a family or one of: {})", raw, names));
    }
  }
  if (out.empty() && spec.find("onednn_") == std::string::npos)
    throw bad_flag("--kernels", "no kernel selected");
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// Times fn(i) for i = 0, 1, ... (i selects the cold copy): 1 warm-up run, then `repeats` runs,
// or (repeats == 0) until >= 5 runs and >= 0.3 s, at most 200 runs, at least 3.
template <class Fn>
void time_runs(int repeats, Fn&& fn, BenchKernelsRow& row) {
  size_t i = 0;
  fn(i++);
  std::vector<double> ms;
  double total = 0;
  for (;;) {
    const auto t0 = Clock::now();
    fn(i++);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    ms.push_back(s * 1e3);
    total += s;
    const int n = static_cast<int>(ms.size());
    if (repeats > 0 ? n >= repeats : ((n >= 5 && total >= 0.3) || n >= 200 || (n >= 3 && total >= 3.0))) break;
  }
  row.median_ms = median(ms);
  row.min_ms = *std::min_element(ms.begin(), ms.end());
  row.runs = static_cast<int>(ms.size());
}

void fill_rates(const BenchKernelsReport& rep, double peak, BenchKernelsRow& r) {
  const double s = r.median_ms / 1e3;
  const double flop = 2.0 * double(r.m) * double(r.n) * double(r.k);
  r.gbs = double(r.weight_bytes) / s / 1e9;
  r.gflops = flop / s / 1e9;
  r.pct_bw = rep.roof.read_bw_gbs > 0 ? 100.0 * r.gbs / rep.roof.read_bw_gbs : 0;
  // Best call vs best probe chunk: the same statistic on both sides, as the median pair above.
  r.pct_bw_best = rep.roof.read_bw_best_gbs > 0 && r.min_ms > 0
                      ? 100.0 * double(r.weight_bytes) / (r.min_ms / 1e3) / 1e9 / rep.roof.read_bw_best_gbs
                      : 0;
  // Minimum traffic of one run: weights once plus fp32 x and y once.
  const double bytes = double(r.weight_bytes) + 4.0 * double(r.m) * double(r.k + r.n);
  r.roof_gflops = roofline_gflops(flop / bytes / 1.0, rep.roof.read_bw_gbs, peak);
  r.pct_roof = r.roof_gflops > 0 ? 100.0 * r.gflops / r.roof_gflops : 0;
}

// Compute ceilings for %roof: AMX tile peaks where AMX runs the kernel, else the vector ones.
double bf16_peak(const BenchKernelsReport& rep) {
  return rep.roof.amx_bf16_gflops > 0 ? rep.roof.amx_bf16_gflops : rep.bf16_peak_gflops;
}
double int8_peak(const BenchKernelsReport& rep) {
  return rep.roof.amx_int8_gops > 0 ? rep.roof.amx_int8_gops : rep.roof.vnni_gops > 0 ? rep.roof.vnni_gops : rep.roof.fma_gflops;
}

double peak_for(const BenchKernelsReport& rep, const kernels::KernelEntry& e) {
  const std::string fam = e.family;
  if (fam == "amx") return int8_peak(rep);
  if (fam == "amx-bf16") return bf16_peak(rep);
  if (fam == "avx512vnni" && rep.roof.vnni_gops > 0) return rep.roof.vnni_gops;
  if (fam == "onednn") return bf16_peak(rep);
  return rep.roof.fma_gflops;
}

void bench_int4(const BenchKernelsOptions& o, BenchKernelsReport& rep, const kernels::KernelEntry& e,
                const ShapeSpec& s, const std::vector<int64_t>& ms) {
  const CpuInfo& cpu = cpu_info();
  const int g = group_of(o, s.k);
  std::vector<int64_t> todo;
  for (int64_t m : ms) {
    const bool fits = e.op == kernels::Op::both || (m == 1 ? e.op == kernels::Op::gemv : e.op == kernels::Op::gemm);
    if (fits) todo.push_back(m);
  }
  if (todo.empty()) return;
  BenchKernelsRow proto;
  proto.kernel = e.name, proto.family = e.family, proto.op = kernels::op_name(e.op);
  proto.shape = s.label, proto.n = s.n, proto.k = s.k;
  const kernels::Problem p0{todo.front(), s.n, s.k, g, o.zero_point};
  std::string why = kernels::why_unsupported(e, cpu, p0);
  if (!why.empty()) {
    for (int64_t m : todo) {
      BenchKernelsRow r = proto;
      r.m = m, r.status = "skipped: " + why;
      rep.rows.push_back(r);
    }
    return;
  }
  const Q4Weights w = bench::random_q4(s.n, s.k, g, o.zero_point);
  std::vector<kernels::PackedQ4> copies;
  copies.push_back(e.pack(w));
  const size_t nc = cold_copies(copies[0].weight_bytes(), rep.cache_bytes);
  while (copies.size() < nc) copies.push_back(bench::clone(copies[0]));
  for (int64_t m : todo) {
    BenchKernelsRow r = proto;
    r.m = m;
    why = kernels::why_unsupported(e, cpu, {m, s.n, s.k, g, o.zero_point});
    // ref is the oracle, not a contender: minutes per run on 7B shapes unless asked for by name.
    if (why.empty() && std::string(e.family) == "ref" && lower(o.kernels) == "all" && double(m) * s.n * s.k > 4096.0 * 4096)
      why = "ref is too slow at this size (name it in --kernels to force)";
    if (!why.empty()) {
      r.status = "skipped: " + why;
      rep.rows.push_back(r);
      continue;
    }
    const auto x = bench::random_x(m, s.k);
    std::vector<float> y(static_cast<size_t>(m * s.n));
    time_runs(o.repeats, [&](size_t i) { e.run(copies[i % copies.size()], x.data(), m, y.data()); }, r);
    r.copies = copies.size(), r.weight_bytes = copies[0].weight_bytes();
    fill_rates(rep, peak_for(rep, e), r);
    rep.rows.push_back(r);
  }
}

// The oneDNN matmuls an int4 kernel is compared with: fp32 and bf16 weights as stored (plain
// [n][k]), and u8×s8 with int8 weights in the primitive's own layout (AMX-blocked where AMX
// exists; packed once, outside the timing) — the speed an int8-weight model would get.
enum class Baseline { f32, bf16, u8s8 };
constexpr Baseline kBaselines[] = {Baseline::f32, Baseline::bf16, Baseline::u8s8};

const char* baseline_name(Baseline b) { return b == Baseline::f32 ? kF32 : b == Baseline::bf16 ? kBf16 : kU8s8; }

void bench_baseline(const BenchKernelsOptions& o, BenchKernelsReport& rep, Baseline base, const ShapeSpec& s,
                    const std::vector<int64_t>& ms) {
  using dt = dnnl::memory::data_type;
  const dt src_dt = base == Baseline::f32 ? dt::f32 : base == Baseline::bf16 ? dt::bf16 : dt::u8;
  const dt wei_dt = base == Baseline::f32 ? dt::f32 : base == Baseline::bf16 ? dt::bf16 : dt::s8;
  const size_t es = base == Baseline::f32 ? 4 : base == Baseline::bf16 ? 2 : 1;
  const size_t plain_bytes = static_cast<size_t>(s.n * s.k) * es;
  // Small finite values (bf16 0x3c00 ≈ 0.0078; f32 0x3c000000 the same; s8 0x3c = 60): no denormals.
  kernels::AlignedBytes plain = kernels::aligned_alloc_bytes(plain_bytes);
  for (size_t i = 0; i < plain_bytes; i += es) plain[i + es - 1] = 0x3c;
  std::vector<kernels::AlignedBytes> ws;  // per m for u8s8 (its layout may depend on m)
  for (int64_t m : ms) {
    BenchKernelsRow r;
    r.kernel = baseline_name(base), r.family = "onednn", r.op = "baseline";
    r.shape = s.label, r.m = m, r.n = s.n, r.k = s.k;
    std::unique_ptr<kernels::DnnlMatmul> mm;
    try {
      mm = std::make_unique<kernels::DnnlMatmul>(m, s.n, s.k, src_dt, wei_dt, false, 0, base == Baseline::u8s8);
    } catch (const Error& err) {
      r.status = "skipped: " + err.message();
      rep.rows.push_back(r);
      continue;
    }
    const size_t wbytes = mm->weight_bytes(), nc = cold_copies(wbytes, rep.cache_bytes);
    ws.clear();
    for (size_t c = 0; c < nc; ++c) {
      ws.push_back(kernels::aligned_alloc_bytes(wbytes));
      if (base == Baseline::u8s8)
        mm->pack_weights(plain.get(), ws.back().get());
      else
        std::memcpy(ws.back().get(), plain.get(), plain_bytes);
    }
    const auto xf = bench::random_x(m, s.k);
    std::vector<uint8_t> xs(xf.size() * es);
    for (size_t i = 0; i < xf.size(); ++i) {
      if (base == Baseline::f32) std::memcpy(&xs[4 * i], &xf[i], 4);
      if (base == Baseline::bf16) {
        const uint16_t b = f32_to_bf16(xf[i]);
        std::memcpy(&xs[2 * i], &b, 2);
      }
      if (base == Baseline::u8s8) xs[i] = static_cast<uint8_t>(128 + static_cast<int>(xf[i] * 100.f) % 100);
    }
    std::vector<float> y(static_cast<size_t>(m * s.n));
    time_runs(o.repeats, [&](size_t i) { mm->run(xs.data(), ws[i % nc].get(), nullptr, y.data()); }, r);
    r.copies = nc, r.weight_bytes = wbytes;
    const double peak = base == Baseline::f32    ? rep.roof.fma_gflops
                        : base == Baseline::bf16 ? bf16_peak(rep)
                                                 : int8_peak(rep);
    fill_rates(rep, peak, r);
    rep.rows.push_back(r);
  }
}

void compute_best(BenchKernelsReport& rep) {
  std::map<int64_t, std::map<std::string, std::pair<double, int>>> tot;  // m -> kernel -> (ms, shapes)
  std::set<std::string> shapes;
  for (const auto& r : rep.rows) {
    if (!r.ok()) continue;
    shapes.insert(r.shape);
    auto& t = tot[r.m][r.kernel];
    t.first += r.median_ms, t.second += 1;
  }
  for (const auto& [m, per] : tot) {
    BenchKernelsBest b;
    b.m = m;
    for (const auto& [name, t] : per) {
      if (name == kF32 || name == kBf16 || name == kU8s8 || t.second != static_cast<int>(shapes.size())) continue;
      if (b.kernel.empty() || t.first < b.total_ms) b.kernel = name, b.total_ms = t.first;
    }
    if (b.kernel.empty()) continue;
    // clang 14 (the fuzz/ASan compiler) cannot capture a structured binding: name it first.
    const auto& per_m = per;
    auto ratio = [&](const char* base) {
      auto it = per_m.find(base);
      return it != per_m.end() && it->second.second == static_cast<int>(shapes.size()) ? it->second.first / b.total_ms
                                                                                      : 0.0;
    };
    b.speedup_vs_bf16 = ratio(kBf16), b.speedup_vs_f32 = ratio(kF32), b.speedup_vs_u8s8 = ratio(kU8s8);
    rep.best.push_back(b);
  }
}

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

}  // namespace

void validate(const BenchKernelsOptions& o) {
  if (o.m.empty()) throw bad_flag("--m", "needs at least one m (e.g. 1,8,32)");
  for (int64_t m : o.m)
    if (m < 1 || m > 65536) throw bad_flag("--m", fmt::format("m must be in 1..65536, got {}", m));
  if (o.k < 0 || o.n < 0 || o.k > (int64_t{1} << 20) || o.n > (int64_t{1} << 20))
    throw bad_flag(o.k < 0 || o.k > (int64_t{1} << 20) ? "--k" : "--n", "must be in 1..1048576");
  const bool gs_ok = o.group_size == -1 || o.group_size == 32 || o.group_size == 64 || o.group_size == 128 ||
                     o.group_size == 256 || (o.k > 0 && o.group_size == o.k);
  if (!gs_ok) throw bad_flag("--group-size", fmt::format("must be 32, 64, 128, 256 or -1 (per-channel), got {}", o.group_size));
  for (const auto& s : shapes_of(o)) {
    const int g = group_of(o, s.k);
    if (s.k % 2 != 0) throw bad_flag("--k", fmt::format("k must be even, got {}", s.k));
    if (s.k % g != 0)
      throw bad_flag("--group-size", fmt::format("{} does not divide k = {}", g, s.k));
  }
  if (o.threads < 0) throw bad_flag("--threads", "must be >= 0");
  if (o.cache_mb < 0) throw bad_flag("--cache-mb", "must be >= 0 (0 = the L3 size)");
  if (o.repeats < 0) throw bad_flag("--repeats", "must be >= 0 (0 = auto)");
  bool explicit_sel = false;
  (void)selected_kernels(o.kernels, explicit_sel);
}

BenchKernelsReport bench_kernels(const BenchKernelsOptions& o, std::FILE* progress) {
  validate(o);
  if (!o.plot_path.empty() && !gnuplot_available())
    throw Error(ErrorCode::io, o.plot_path, "--plot", "gnuplot not found in PATH (install gnuplot-nox)");
  set_num_threads(o.threads);
  bool explicit_sel = false;
  const auto sel = selected_kernels(o.kernels, explicit_sel);
  const bool tty = o.progress && progress && isatty(fileno(progress));
  BenchKernelsReport rep;
  const CpuInfo& cpu = cpu_info();
  rep.cpu = cpu.brand, rep.isa = isa_name(cpu.isa), rep.threads = num_threads();
  rep.group_size = o.group_size, rep.zero_point = o.zero_point;
  if (tty) std::fprintf(progress, "measuring read bandwidth and peak FMA/VNNI/AMX throughput...\r");
  rep.cache_bytes = o.cache_mb > 0 ? int64_t{o.cache_mb} << 20 : bench_cache_bytes();
  rep.roof = measure_roofline(rep.cache_bytes);
  rep.bf16_peak_gflops = cpu.avx512bf16 && cpu.has(Isa::avx512) ? 2 * rep.roof.fma_gflops : rep.roof.fma_gflops;
  const auto shapes = shapes_of(o);
  const size_t steps = shapes.size() * (sel.size() + (o.baselines ? std::size(kBaselines) : 0));
  size_t step = 0;
  for (const auto& s : shapes) {
    for (const auto* e : sel) {
      if (tty) std::fprintf(progress, "\33[2K[%zu/%zu] %s %s\r", ++step, steps, e->name, s.label.c_str());
      bench_int4(o, rep, *e, s, o.m);
    }
    if (o.baselines) {
      for (Baseline b : kBaselines) {
        if (tty) std::fprintf(progress, "\33[2K[%zu/%zu] %s %s\r", ++step, steps, baseline_name(b), s.label.c_str());
        bench_baseline(o, rep, b, s, o.m);
      }
    }
  }
  if (tty) std::fprintf(progress, "\33[2K");
  compute_best(rep);
  if (!o.json_path.empty()) write_file_atomic(o.json_path, bench_kernels_json(rep));
  if (!o.csv_path.empty()) write_file_atomic(o.csv_path, bench_kernels_csv(rep));
  if (!o.plot_path.empty()) plot_bench_kernels(rep, o.plot_path);
  return rep;
}

}  // namespace awqx

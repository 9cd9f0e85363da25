// Renderings of a BenchKernelsReport: stdout table + best-per-m summary, JSON, CSV, gnuplot PNG.
#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "awqx/bench_kernels.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"

namespace awqx {
namespace {

const char* kCsvHeader =
    "kernel,family,op,shape,m,n,k,group_size,zero_point,status,median_ms,min_ms,runs,copies,weight_bytes,"
    "gbs,gflops,pct_bw,roof_gflops,pct_roof,pct_bw_best\n";

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::string bench_kernels_table(const BenchKernelsReport& r) {
  std::string s = fmt::format("cpu: {} (isa {}), threads {}, group size {}, {}\n", r.cpu, r.isa, r.threads,
                              r.group_size, r.zero_point ? "zero point" : "no zero point");
  s += fmt::format("roofline: read bandwidth {:.1f} GB/s (median 24 MiB chunk; best {:.1f}), fp32 FMA peak {:.1f} GFLOP/s, VNNI peak {:.1f} GOP/s, "
                   "bf16 peak {:.1f} GFLOP/s{}\ncold weights: copies rotated to exceed 4x {} MiB of cache per cell\n\n",
                   r.roof.read_bw_gbs, r.roof.read_bw_best_gbs, r.roof.fma_gflops, r.roof.vnni_gops, r.bf16_peak_gflops,
                   r.bf16_peak_gflops > r.roof.fma_gflops ? " (2x FMA: vdpbf16ps)" : "", r.cache_bytes >> 20);
  if (r.roof.amx_int8_gops > 0)
    s.insert(s.find("\ncold weights"), fmt::format(",\nAMX peaks: int8 {:.0f} GOP/s (tdpbusd), bf16 {:.0f} GFLOP/s (tdpbf16ps)",
                                                    r.roof.amx_int8_gops, r.roof.amx_bf16_gflops));
  s += fmt::format("{:<12} {:>5} {:<30} {:>10} {:>8} {:>9} {:>6} {:>7} {:>8}\n", "shape(k→n)", "m", "kernel",
                   "median_ms", "GB/s", "GFLOP/s", "%BW", "%roof", "%BWbest");
  std::set<std::string> skipped;
  for (const auto& row : r.rows) {
    if (!row.ok()) {
      skipped.insert(fmt::format("{} on {} m={}: {}", row.kernel, row.shape, row.m, row.status.substr(9)));
      continue;
    }
    s += fmt::format("{:<12} {:>5} {:<30} {:>10.3f} {:>8.2f} {:>9.1f} {:>5.0f}% {:>6.0f}% {:>7.0f}%\n", row.shape,
                     row.m, row.kernel, row.median_ms, row.gbs, row.gflops, row.pct_bw, row.pct_roof, row.pct_bw_best);
  }
  if (!skipped.empty()) {
    s += "\nskipped:\n";
    for (const auto& k : skipped) s += "  " + k + "\n";
  }
  s += "\nbest int4 kernel per m (lowest total time over the shapes):\n";
  for (const auto& b : r.best) {
    s += fmt::format("  m={:<5} {:<30} {:>10.3f} ms", b.m, b.kernel, b.total_ms);
    if (b.speedup_vs_bf16 > 0) s += fmt::format("  {:.2f}x vs oneDNN bf16", b.speedup_vs_bf16);
    if (b.speedup_vs_f32 > 0) s += fmt::format("  {:.2f}x vs oneDNN fp32", b.speedup_vs_f32);
    if (b.speedup_vs_u8s8 > 0) s += fmt::format("  {:.2f}x vs oneDNN u8s8", b.speedup_vs_u8s8);
    s += "\n";
  }
  return s;
}

std::string bench_kernels_json(const BenchKernelsReport& r) {
  nlohmann::json j;
  j["machine"] = {{"cpu", r.cpu}, {"isa", r.isa}, {"threads", r.threads}, {"cache_bytes", r.cache_bytes}};
  j["roofline"] = {{"read_bw_gbs", r.roof.read_bw_gbs},
                   {"read_bw_best_gbs", r.roof.read_bw_best_gbs},
                   {"fma_gflops", r.roof.fma_gflops},
                   {"vnni_gops", r.roof.vnni_gops},
                   {"bf16_gflops", r.bf16_peak_gflops},
                   {"amx_int8_gops", r.roof.amx_int8_gops},
                   {"amx_bf16_gflops", r.roof.amx_bf16_gflops}};
  j["group_size"] = r.group_size;
  j["zero_point"] = r.zero_point;
  auto& rows = j["results"] = nlohmann::json::array();
  for (const auto& x : r.rows)
    rows.push_back({{"kernel", x.kernel}, {"family", x.family}, {"op", x.op}, {"shape", x.shape}, {"m", x.m},
                    {"n", x.n}, {"k", x.k}, {"status", x.status}, {"median_ms", x.median_ms}, {"min_ms", x.min_ms},
                    {"runs", x.runs}, {"copies", x.copies}, {"weight_bytes", x.weight_bytes}, {"gbs", x.gbs},
                    {"gflops", x.gflops}, {"pct_bw", x.pct_bw}, {"pct_bw_best", x.pct_bw_best}, {"roof_gflops", x.roof_gflops},
                    {"pct_roof", x.pct_roof}});
  auto& best = j["best"] = nlohmann::json::array();
  for (const auto& b : r.best)
    best.push_back({{"m", b.m}, {"kernel", b.kernel}, {"total_ms", b.total_ms},
                    {"speedup_vs_bf16", b.speedup_vs_bf16}, {"speedup_vs_f32", b.speedup_vs_f32},
                    {"speedup_vs_u8s8", b.speedup_vs_u8s8}});
  return j.dump(2) + "\n";
}

std::string bench_kernels_csv(const BenchKernelsReport& r) {
  std::string s = kCsvHeader;
  for (const auto& x : r.rows)
    s += fmt::format("{},{},{},{},{},{},{},{},{},{},{:.6f},{:.6f},{},{},{},{:.4f},{:.4f},{:.2f},{:.4f},{:.2f},{:.2f}\n",
                     csv_field(x.kernel), x.family, x.op, x.shape, x.m, x.n, x.k, r.group_size, r.zero_point ? 1 : 0,
                     csv_field(x.status), x.median_ms, x.min_ms, x.runs, x.copies, x.weight_bytes, x.gbs, x.gflops,
                     x.pct_bw, x.roof_gflops, x.pct_roof, x.pct_bw_best);
  return s;
}

// One panel per shape; one line per kernel (GFLOP/s vs m, log x). Data blocks are separated by
// two blank lines so gnuplot's `index` selects them.
void plot_bench_kernels(const BenchKernelsReport& r, const std::string& png) {
  std::map<std::string, std::map<std::string, std::vector<std::pair<int64_t, double>>>> series;
  std::vector<std::string> shape_order;
  for (const auto& x : r.rows) {
    if (!x.ok()) continue;
    if (!series.count(x.shape)) shape_order.push_back(x.shape);
    series[x.shape][x.kernel].push_back({x.m, x.gflops});
  }
  if (png.find('\'') != std::string::npos)  // it is quoted in the script and the shell command
    throw Error(ErrorCode::invalid_argument, png, "--plot", "path must not contain a single quote");
  std::string dat, gp;
  gp += fmt::format("set terminal pngcairo size 1400,1000 noenhanced\nset output '{}.tmp.png'\n", png);
  const int cols = shape_order.size() > 1 ? 2 : 1;
  const int rows = static_cast<int>((shape_order.size() + 1) / 2);
  gp += fmt::format("set multiplot layout {},{} title 'awqx bench-kernels: {} threads, {}'\n", std::max(rows, 1), cols,
                    r.threads, r.cpu);
  gp += "set logscale x 2\nset xlabel 'M (rows of X)'\nset ylabel 'GFLOP/s'\nset key outside right top\nset grid\n";
  int index = 0;
  for (const auto& shape : shape_order) {
    gp += fmt::format("set title '{}'\nplot ", shape);
    bool first = true;
    for (const auto& [kernel, pts] : series[shape]) {
      for (const auto& [m, g] : pts) dat += fmt::format("{} {:.4f}\n", m, g);
      dat += "\n\n";
      gp += fmt::format("{}'{}.dat' index {} with linespoints title '{}'", first ? "" : ", ", png, index++, kernel);
      first = false;
    }
    gp += "\n";
  }
  gp += "unset multiplot\n";
  if (index == 0) throw Error(ErrorCode::invalid_argument, png, "--plot", "no successful results to plot");
  write_file_atomic(png + ".dat", dat);
  write_file_atomic(png + ".gp", gp);
  std::string cmd = "gnuplot ";
  cmd += "'" + png + ".gp' 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string tmp = png + ".tmp.png";
  if (rc != 0 || !file_exists(tmp)) {
    remove_all(tmp);
    throw Error(ErrorCode::io, png, "--plot", fmt::format("gnuplot failed (exit {}) on {}.gp", rc, png));
  }
  // gnuplot wrote the temp PNG; publish it atomically under the final name.
  write_file_atomic(png, read_file(tmp));
  remove_all(tmp);
}

}  // namespace awqx

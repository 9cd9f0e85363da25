// awqx quantize: FP Hugging Face folder -> AutoAWQ int4 folder (flags = QuantizeOptions fields).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/parallel.hpp"
#include "awqx/quantize.hpp"
#include "awqx/safetensors.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {
namespace {

struct QuantizeFlags {
  std::string model, out, modules, shard = "5GB";
  bool no_duo = false, no_clip = false, no_resume = false;
  QuantizeOptions opt;
  RunFlags run;
};

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t e = s.find(',', pos);
    if (e == std::string::npos) e = s.size();
    if (e > pos) out.push_back(s.substr(pos, e - pos));
    pos = e + 1;
  }
  return out;
}

std::string fmt_loss(const char* what, double v) {
  if (v < 0) return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s %.4g", what, v);
  return buf;
}

std::string fmt_time(double s) {
  const int t = static_cast<int>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  return buf;
}

void run(QuantizeFlags& f) {
  apply_run_flags(f.run);
  QuantizeOptions& o = f.opt;
  o.duo_scaling = !f.no_duo;
  o.apply_clip = !f.no_clip;
  if (f.no_resume) o.resume = false;
  o.modules_to_not_convert = split_csv(f.modules);
  o.shard_size = parse_size(f.shard, "--shard-size");
  o.backend = f.run.backend;
  o.command = command_line();
  if (world().size() > 1) o.comm = &world();
  const bool tty = isatty(STDERR_FILENO) != 0;
  auto progress = [&](const QuantizeProgress& p) {
    if (!is_root()) return;  // every rank has the same report
    const int width = 30, fill = p.n_layers ? width * p.layer / p.n_layers : width;
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(width, '.');
    char loss[32] = "-";
    if (p.loss >= 0) std::snprintf(loss, sizeof loss, "%.3g", p.loss);
    std::fprintf(stderr, "%s[%s] layer %d/%d  elapsed %s  ETA %s  loss %s%s%s", tty ? "\r" : "", bar.c_str(), p.layer,
                 p.n_layers, fmt_time(p.elapsed_s).c_str(), fmt_time(p.eta_s).c_str(), loss,
                 p.resumed ? "  (resumed)" : "", tty ? "\x1b[K" : "\n");
    if (tty && p.layer == p.n_layers) std::fprintf(stderr, "\n");
    // Per group: the winning scale candidate and the block losses behind it (RTN = s = 1).
    if (tty && !p.groups.empty() && p.layer != p.n_layers) std::fprintf(stderr, "\n");
    for (const auto& g : p.groups) {
      std::string l = fmt_loss("fit", g.fit) + fmt_loss(" check", g.check);
      std::string r = fmt_loss("fit", g.rtn_fit) + fmt_loss(" check", g.rtn_check);
      std::fprintf(stderr, "  layer %d %-7s %-16s loss %s%s%s%s\n", p.layer, g.group.c_str(), g.choice.c_str(),
                   l.empty() ? "-" : l.c_str(), r.empty() ? "" : "  rtn ", r.c_str(),
                   g.clip.empty() ? "" : ("  clip " + g.clip).c_str());
    }
    std::fflush(stderr);
  };
  const QuantizeReport r = quantize_model(f.model, f.out, o, progress);
  if (!is_root()) return;
  double search = 0;
  for (double s : r.layer_seconds) search += s;
  std::printf("quantized %d layers (%d resumed) with %s w%d g%d%s in %.1f s (layers %.1f s), %lld calibration tokens "
              "in %lld blocks\n",
              r.n_layers, r.resumed_layers, o.method.c_str(), o.w_bit, o.q_group_size, o.zero_point ? " zp" : "",
              r.total_seconds, search, static_cast<long long>(r.calib_tokens), static_cast<long long>(r.calib_blocks));
  std::printf("wrote %s (%zu files)\npeak RSS %.1f MiB%s\n", f.out.c_str(), r.files.size(),
              static_cast<double>(r.peak_rss_bytes) / (1024.0 * 1024.0),
              world().size() > 1 ? fmt::format(" (rank 0 of {}, {} threads each)", world().size(), num_threads()).c_str()
                                 : "");
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto f = std::make_shared<QuantizeFlags>();
  CLI::App* c = app.add_subcommand("quantize", "quantize an FP model folder to AWQ int4 (AutoAWQ format)");
  c->add_option("--model", f->model, "input Hugging Face folder (Llama, Mistral, Qwen2)")->required();
  c->add_option("--out", f->out, "output folder (must not exist unless --overwrite)")->required();
  c->add_option("--method", f->opt.method, "awq | rtn")->capture_default_str();
  c->add_option("--w-bit", f->opt.w_bit, "weight bits (4)")->capture_default_str();
  c->add_option("--group-size", f->opt.q_group_size, "q_group_size: 32/64/128/256, -1 = per channel")->capture_default_str();
  c->add_flag("--zero-point,!--no-zero-point", f->opt.zero_point, "asymmetric (default) or symmetric");
  c->add_option("--version", f->opt.version, "gemm | gemv (AutoAWQ layout)")->capture_default_str();
  c->add_flag("--no-duo-scaling", f->no_duo, "scales from activations only");
  c->add_flag("--no-clip", f->no_clip, "skip the weight clipping search");
  c->add_option("--n-grid", f->opt.n_grid, "scale search grid points")->capture_default_str();
  CLI::Option* id = c->add_flag("--identity-scale,!--no-identity-scale", f->opt.identity_scale,
                                "s = 1 (plain RTN) is always a scale candidate (default on)");
  CLI::Option* val = c->add_flag("--validate,!--no-validate", f->opt.validate,
                                 "keep a scale/clip only if it also helps on held-out check blocks (default off)");
  CLI::Option* frac = c->add_option("--check-fraction", f->opt.check_fraction,
                                    "fraction of calibration blocks held out as the check set")
                          ->capture_default_str();
  CLI::Option* seq = c->add_flag("--sequential-inputs,!--no-sequential-inputs", f->opt.sequential_inputs,
                                 "calibrate each layer on the output of the already-quantized layers");
  c->add_flag("--autoawq-compat", f->opt.autoawq_compat,
              "AutoAWQ's search exactly (no identity candidate, no check set, FP inputs)")
      ->excludes(id)
      ->excludes(val)
      ->excludes(frac)
      ->excludes(seq);
  c->add_option("--search-precision", f->opt.search_precision,
                 "matmuls of the scale/clip search: auto (bf16 on AMX/AVX512-BF16 CPUs), fp32, bf16")
      ->capture_default_str();
  c->add_option("--modules-to-not-convert", f->modules, "comma-separated names/globs kept in FP");
  c->add_option("--calib", f->opt.calib_files, "calibration file (.txt/.jsonl/.jsonl.zst) or 'pileval'; repeatable");
  c->add_option("--calib-text", f->opt.calib_texts, "calibration text; repeatable");
  c->add_option("--calib-dir", f->opt.calib_dir, "where 'pileval' is found (else $AWQX_CALIB_DIR)");
  c->add_flag("--chat", f->opt.chat, "format samples with the model's chat template");
  c->add_option("--max-calib-samples", f->opt.max_calib_samples)->capture_default_str();
  c->add_option("--max-calib-seq-len", f->opt.max_calib_seq_len)->capture_default_str();
  c->add_option("--shard-size", f->shard, "max bytes per output file (5GB, 500MB...)")->capture_default_str();
  c->add_flag("--resume,!--no-resume", f->opt.resume, "continue an interrupted run (default on)");
  c->add_flag("--overwrite", f->opt.overwrite, "replace an existing output folder");
  c->add_flag("--low-cpu-mem", f->opt.low_cpu_mem, "layer streaming (always on)");
  add_run_flags(c, f->run);
  c->callback([f] { run(*f); });
}

}  // namespace awqx::cli

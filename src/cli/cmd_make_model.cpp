// `awqx make-model`: a synthetic model folder of a real shape (random weights, for speed runs).
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "awqx/make_model.hpp"
#include "awqx/parallel.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {
namespace {
struct MakeModelFlags {
  std::string out;
  int threads = 0;
  MakeModelOptions opt;
};

void run_make_model(const MakeModelFlags& f) {
  set_num_threads(f.threads);
  const uint64_t bytes = make_model(f.out, f.opt, [](const MakeModelProgress& p) {
    std::fprintf(stderr, "%s", fmt::format("make-model: shard {}/{} written, {:.2f} GB, {:.1f} s\n", p.step,
                                           p.n_steps, p.bytes_written / 1e9, p.elapsed_s)
                                   .c_str());
  });
  std::printf("%s", fmt::format("wrote {} ({} shape{}, {}, {:.2f} GB of tensors)\n", f.out, f.opt.shape,
                                f.opt.layers > 0 ? fmt::format(", {} layers", f.opt.layers) : "",
                                f.opt.quantized ? fmt::format("AWQ int4 g{}", f.opt.group_size) : "bf16",
                                bytes / 1e9)
                        .c_str());
}
}  // namespace

void add_make_model_command(CLI::App& app) {
  auto f = std::make_shared<MakeModelFlags>();
  CLI::App* cmd = app.add_subcommand("make-model", "write a synthetic (random-weight) model of a real shape, for bench");
  cmd->add_option("--shape", f->opt.shape, "llama2-7b | llama3-8b | qwen2-1.5b | tiny")->required();
  cmd->add_option("--out", f->out, "output folder (built in <out>.tmp, renamed when complete)")->required();
  cmd->add_flag("--quantized", f->opt.quantized, "write an AutoAWQ GEMM int4 checkpoint instead of bf16");
  cmd->add_option("--group-size", f->opt.group_size, "int4 group size (-1 = whole in_features)");
  cmd->add_option("--seed", f->opt.seed, "random seed");
  cmd->add_option("--layers", f->opt.layers, "override the layer count (0 = the shape's own)");
  cmd->add_flag("--overwrite", f->opt.overwrite, "replace an existing --out folder");
  cmd->add_option("--threads", f->threads, "worker threads (default: physical cores)");
  cmd->callback([f] { run_make_model(*f); });
}

}  // namespace awqx::cli

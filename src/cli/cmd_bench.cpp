// `awqx bench`: prefill / decode tokens/s of a model against the measured bandwidth bound.
#include <cstdio>
#include <memory>

#include "awqx/bench_model.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {
namespace {
struct BenchFlags {
  std::string model;
  bool no_fuse = false;
  BenchOptions opt;
};

void run_bench(BenchFlags f) {
  f.opt.fuse_layers = !f.no_fuse;
  const BenchResult r = bench_model(f.model, f.opt, [](const std::string& line) {
    std::fprintf(stderr, "bench: %s\n", line.c_str());
  });
  std::printf("%s", r.summary().c_str());
  if (!f.opt.json_path.empty()) std::printf("json       %s\n", f.opt.json_path.c_str());
}
}  // namespace

void add_bench_command(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "prefill/decode tokens/s of a model vs. the memory-bandwidth bound");
  cmd->add_option("--model", f->model, "model folder (HF, AutoAWQ, or awqx make-model)")->required();
  cmd->add_option("--prompt-tokens", f->opt.prompt_tokens, "prompt length (random ids)");
  cmd->add_option("--gen-tokens", f->opt.gen_tokens, "greedy decode steps per repeat");
  cmd->add_option("--repeats", f->opt.repeats, "timed repeats");
  cmd->add_option("--warmup", f->opt.warmup, "untimed repeats first");
  cmd->add_option("--backend", f->opt.backend, "force a kernel by name (see `awqx kernels`)");
  cmd->add_option("--threads", f->opt.threads, "worker threads (default: physical cores)");
  cmd->add_flag("--no-fuse", f->no_fuse, "keep q/k/v and gate/up as separate linears");
  add_kv_type_flag(cmd, f->opt.kv_type);
  add_step_tokens_flag(cmd, f->opt.step_tokens);
  cmd->add_option("--batch", f->opt.batch,
                  "also decode this many sequences together per repeat (the server's batched step); 1 = off")
      ->check(positive());
  cmd->add_option("--seed", f->opt.seed, "seed of the random prompt ids");
  cmd->add_option("--json", f->opt.json_path, "also write the results as JSON (atomically)");
  cmd->callback([f] { run_bench(*f); });
}

}  // namespace awqx::cli

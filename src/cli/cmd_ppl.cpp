// `awqx ppl`: perplexity of a model on a text file (the AWQ paper's WikiText-2 method).
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/generate.hpp"
#include "awqx/model.hpp"
#include "awqx/parallel.hpp"
#include "awqx/tokenizer.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"

namespace awqx::cli {
namespace {

struct PplFlags {
  RunFlags run;
  std::string model, data, json;
  PplOptions ppl;
  KvType kv_type = KvType::f16;
  int64_t step_tokens = 0;
};

void run_ppl(const PplFlags& f) {
  apply_run_flags(f.run);
  if (f.ppl.ctx < 2) throw Error::mismatch(ErrorCode::invalid_argument, "", "--ctx", ">= 2", std::to_string(f.ppl.ctx));
  const std::string text = read_text_file(f.data, "--data");  // before the (slow) model load
  const auto tok = Tokenizer::load(f.model);
  LoadOptions lo;
  lo.backend = f.run.backend;
  lo.kv_type = f.kv_type;
  lo.step_tokens = f.step_tokens;
  lo.max_seq_len = f.ppl.ctx;  // one window at a time: the cache never holds more than ctx tokens
  ProgressLine load_progress("loading layer");
  lo.progress = [&](int64_t d, int64_t t) {
    if (is_root()) load_progress(d, t);
  };
  auto model = Model::load(f.model, lo);
  if (is_root()) load_progress.done();
  const std::vector<int32_t> ids = tok->encode(text, true);
  PplOptions po = f.ppl;
  if (world().size() > 1) po.comm = &world();
  ProgressLine window_progress("ppl: window");  // rank 0's share
  const PplResult r = perplexity(*model, ids, po, [&](int64_t done, int64_t total) {
    if (is_root()) window_progress(done, total);
  });
  if (is_root()) window_progress.done();
  if (!is_root()) return;
  std::printf("model: %s\ndata: %s (%zu tokens)\nctx: %lld, windows: %lld, predictions: %lld, %.2f s (%.1f tok/s)\n",
              f.model.c_str(), f.data.c_str(), ids.size(), static_cast<long long>(f.ppl.ctx),
              static_cast<long long>(r.windows), static_cast<long long>(r.tokens), r.seconds,
              r.seconds > 0 ? static_cast<double>(r.windows * f.ppl.ctx) / r.seconds : 0.0);
  std::printf("ppl = %.4f\n", r.ppl);
  std::fflush(stdout);
  if (!f.json.empty()) {
    const nlohmann::json j = {{"model", f.model},       {"data", f.data},         {"ctx", f.ppl.ctx},
                              {"windows", r.windows},   {"predictions", r.tokens}, {"nll_sum", r.nll_sum},
                              {"ppl", r.ppl},           {"seconds", r.seconds},   {"data_tokens", ids.size()},
                              {"threads", num_threads()}, {"backend", f.run.backend}, {"ranks", world().size()}};
    write_file_atomic(f.json, j.dump(2) + "\n");
  }
}

}  // namespace

void add_ppl_command(CLI::App& app) {
  auto f = std::make_shared<PplFlags>();
  CLI::App* cmd = app.add_subcommand("ppl", "perplexity on a text file (non-overlapping --ctx windows)");
  cmd->add_option("--model", f->model, "model folder (HF or AutoAWQ)")->required();
  cmd->add_option("--data", f->data, "text file, tokenized whole (BOS at start)")->required();
  cmd->add_option("--ctx", f->ppl.ctx, "window length in tokens");
  add_kv_type_flag(cmd, f->kv_type);
  add_step_tokens_flag(cmd, f->step_tokens);
  cmd->add_option("--max-windows", f->ppl.max_windows, "evaluate at most N windows (0 = all)")
      ->check(non_negative());
  cmd->add_option("--json", f->json, "also write the numbers to this JSON file");
  add_run_flags(cmd, f->run);
  cmd->callback([f] { run_ppl(*f); });
}

}  // namespace awqx::cli

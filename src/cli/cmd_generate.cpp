// `awqx generate`: streams a completion of --prompt to stdout; timing stats go to stderr.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/generate.hpp"
#include "awqx/model.hpp"
#include "awqx/tokenizer.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"

namespace awqx::cli {
namespace {

struct GenerateFlags {
  RunFlags run;
  std::string model, prompt;
  int64_t max_new_tokens = 256;
  SamplingOptions sampling;
  bool chat = false, no_fuse = false;
  int64_t max_seq_len = 0, step_tokens = 0;
  KvType kv_type = KvType::f16;
};

void run_generate(const GenerateFlags& f) {
  apply_run_flags(f.run);
  LoadOptions lo;
  lo.backend = f.run.backend;
  lo.kv_type = f.kv_type;
  lo.fuse_layers = !f.no_fuse;
  lo.max_seq_len = f.max_seq_len;
  lo.step_tokens = f.step_tokens;
  const auto tok = Tokenizer::load(f.model);
  ProgressLine load_progress("loading layer");
  lo.progress = [&](int64_t d, int64_t t) { load_progress(d, t); };
  auto model = Model::load(f.model, lo);
  load_progress.done();
  std::string text = f.prompt;
  if (f.chat) text = apply_chat_template(detect_chat_family(f.model), {{"user", f.prompt}}, true);
  const std::vector<int32_t> ids = tok->encode(text, true);
  if (ids.empty())
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--prompt", "a prompt that encodes to at least one token",
                          "an empty prompt (the tokenizer adds no BOS)");
  StreamDecoder dec(*tok, /*at_text_start=*/true);
  // The prompt goes through the stream decoder too, so the first generated piece gets its
  // leading space right; it is echoed (as llama2.c's run does) except in chat mode.
  for (const int32_t id : ids) {
    const std::string piece = dec.push(id);
    if (!f.chat) std::fwrite(piece.data(), 1, piece.size(), stdout);
  }
  std::fflush(stdout);
  const GenerateStats st = generate(*model, *tok, ids, f.max_new_tokens, f.sampling, [&](int32_t id) {
    if (tok->is_eos(id)) return true;
    const std::string piece = dec.push(id);
    if (!piece.empty()) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  const std::string rest = dec.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  std::fprintf(stderr, "%s",
               fmt::format("prefill: {} tokens in {:.3f} s ({:.1f} tok/s); decode: {} tokens in {:.3f} s "
                           "({:.1f} tok/s){}\n",
                           st.prompt_tokens, st.prefill_seconds, st.prefill_tok_s(), st.generated_tokens,
                           st.decode_seconds, st.decode_tok_s(),
                           st.stopped_eos ? ", stopped at EOS" : "")
                   .c_str());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "generate text from a prompt (streams to stdout)");
  cmd->add_option("--model", f->model, "model folder (HF or AutoAWQ)")->required();
  cmd->add_option("--prompt", f->prompt, "prompt text")->required();
  cmd->add_option("--max-new-tokens", f->max_new_tokens, "tokens to generate at most")
      ->check(non_negative());
  cmd->add_option("--temperature", f->sampling.temperature, "0 = greedy (deterministic)")
      ->check(non_negative());
  cmd->add_option("--top-k", f->sampling.top_k, "keep the k most likely tokens (0 = all)");
  cmd->add_option("--top-p", f->sampling.top_p, "nucleus sampling mass (1 = off)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", f->sampling.seed, "sampling seed");
  cmd->add_flag("--chat", f->chat, "wrap the prompt in the model's chat template");
  cmd->add_flag("--no-fuse", f->no_fuse, "keep q/k/v and gate/up as separate linears");
  add_kv_type_flag(cmd, f->kv_type);
  add_step_tokens_flag(cmd, f->step_tokens);
  cmd->add_option("--max-seq-len", f->max_seq_len, "KV cache capacity in tokens (0 = from config.json)")
      ->check(non_negative());
  add_run_flags(cmd, f->run);
  cmd->callback([f] { run_generate(*f); });
}

}  // namespace awqx::cli

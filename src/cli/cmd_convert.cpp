// `awqx convert`: imports a llama2.c checkpoint into a normal HF folder.
#include <cstdio>
#include <memory>

#include "awqx/convert.hpp"
#include "cli/commands.hpp"

namespace awqx::cli {
namespace {
struct ConvertFlags {
  std::string llama2c, tokenizer, out;
};
}  // namespace

void add_convert_command(CLI::App& app) {
  auto f = std::make_shared<ConvertFlags>();
  CLI::App* cmd = app.add_subcommand("convert", "import a llama2.c checkpoint as a Hugging Face folder");
  cmd->add_option("--llama2c", f->llama2c, "llama2.c model .bin (legacy fp32 format)")->required();
  cmd->add_option("--tokenizer", f->tokenizer, "llama2.c tokenizer.bin or SentencePiece tokenizer.model")->required();
  cmd->add_option("--out", f->out, "output folder (must not exist; written atomically)")->required();
  cmd->callback([f] {
    convert_llama2c(f->llama2c, f->tokenizer, f->out);
    std::printf("wrote %s\n", f->out.c_str());
  });
}

}  // namespace awqx::cli

#include "quant/model_card.hpp"

#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/config_json.hpp"

namespace awqx::quant {
namespace {

// YAML double-quoted scalar (JSON string syntax is valid YAML), so paths and prompts with ':' or
// '#' cannot break the front matter.
std::string yq(const std::string& s) { return nlohmann::json(s).dump(); }

std::string base_model_of(const std::string& model_dir, const ModelConfig& src) {
  const nlohmann::json raw = raw_json(src);
  if (raw.is_object() && raw.contains("_name_or_path") && raw["_name_or_path"].is_string()) {
    const std::string n = raw["_name_or_path"].get<std::string>();
    // A hub id looks like "org/name": relative, one slash, no local path markers.
    if (!n.empty() && n[0] != '/' && n[0] != '.' && n.find('/') != std::string::npos &&
        n.find('/') == n.rfind('/'))
      return n;
  }
  std::filesystem::path p = std::filesystem::path(model_dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  return p.filename().string();
}

std::string calib_description(const QuantizeOptions& opt) {
  if (opt.method != "awq") return "none (round-to-nearest)";
  std::string d;
  for (const auto& f : opt.calib_files) d += (d.empty() ? "" : ", ") + std::filesystem::path(f).filename().string();
  if (!opt.calib_texts.empty())
    d += (d.empty() ? "" : ", ") + fmt::format("{} inline text(s)", opt.calib_texts.size());
  return d.empty() ? "pileval" : d;
}

}  // namespace

std::string model_card(const std::string& model_dir, const ModelConfig& src, const QuantizeOptions& opt,
                       long long calib_tokens) {
  const std::string base = base_model_of(model_dir, src);
  const std::string calib = calib_description(opt);
  const std::string cmd = opt.command.empty() ? "awqx quantize (library call)" : opt.command;
  std::string s = "---\n";
  s += "base_model: " + yq(base) + "\n";
  s += "library_name: awqx\n";
  s += "pipeline_tag: text-generation\n";
  s += "tags:\n  - awq\n  - 4-bit\n  - int4\n  - awqx\n";
  s += fmt::format(
      "quantization_config:\n  quant_method: awq\n  bits: {}\n  group_size: {}\n  zero_point: {}\n  version: {}\n",
      opt.w_bit, opt.q_group_size, opt.zero_point ? "true" : "false", opt.version);
  s += "  modules_to_not_convert:";
  if (opt.modules_to_not_convert.empty()) s += " []\n";
  else {
    s += "\n";
    for (const auto& m : opt.modules_to_not_convert) s += "    - " + yq(m) + "\n";
  }
  s += fmt::format("awqx:\n  method: {}\n  duo_scaling: {}\n  apply_clip: {}\n  calibration_data: {}\n"
                   "  max_calib_samples: {}\n  max_calib_seq_len: {}\n  calibration_tokens: {}\n  command: {}\n",
                   opt.method, opt.duo_scaling, opt.apply_clip, yq(calib), opt.max_calib_samples,
                   opt.max_calib_seq_len, calib_tokens, yq(cmd));
  s += "---\n\n";
  s += fmt::format("# {} (AWQ int4, awqx)\n\n", base);
  s += fmt::format(
      "{}-bit {} quantization of `{}` (group size {}, {}), written in AutoAWQ's `{}` layout by awqx: "
      "transformers, vLLM and AutoAWQ load it as an AWQ checkpoint.\n\n",
      opt.w_bit, opt.method == "awq" ? "AWQ" : "round-to-nearest", base, opt.q_group_size,
      opt.zero_point ? "zero point" : "symmetric", opt.version);
  s += fmt::format("Calibration: {} ({} tokens, at most {} samples of {} tokens).\n\n", calib, calib_tokens,
                   opt.max_calib_samples, opt.max_calib_seq_len);
  s += "Made with:\n\n```\n" + cmd + "\n```\n";
  return s;
}

}  // namespace awqx::quant

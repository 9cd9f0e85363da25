// README.md model card for a quantized folder: Hugging Face YAML front matter (base_model,
// library_name, tags, quantization config, calibration data) and the command that made it, so
// the folder can be uploaded to a model hub as it is.
#pragma once
#include <string>

#include "awqx/config.hpp"
#include "awqx/quantize.hpp"

namespace awqx::quant {

// The card's text. base_model: the source config's _name_or_path when it names a hub id, else the
// source folder's name. calib_tokens: tokens the search saw (0 for rtn).
std::string model_card(const std::string& model_dir, const ModelConfig& src, const QuantizeOptions& opt,
                       long long calib_tokens);

}  // namespace awqx::quant

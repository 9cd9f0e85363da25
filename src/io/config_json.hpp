// JSON conversions of the public config structs (awqx/config.hpp), kept out of the public header
// so that installed headers do not pull in nlohmann/json.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "awqx/config.hpp"

namespace awqx {

// AutoAWQ / transformers AwqConfig keys. Error{format} naming the key on a wrong type.
QuantConfig quant_config_from_json(const nlohmann::json& j, const std::string& file);
nlohmann::json to_json(const QuantConfig& q);
// The HF config.json keys of c's fields (+ quantization_config when c.quant.present).
nlohmann::json to_json(const ModelConfig& c);
// c.raw_text parsed (JSON null when c was not read from a file).
nlohmann::json raw_json(const ModelConfig& c);

}  // namespace awqx

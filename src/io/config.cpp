// config.json (Llama / Mistral / Qwen2) and AutoAWQ quantization_config parsing.
// Every key is type-checked here so that no nlohmann exception can escape: a wrong JSON type is
// an Error{format} naming the key. JSON null counts as "absent" (HF writes e.g. sliding_window: null).
#include "awqx/config.hpp"
#include "io/config_json.hpp"

#include <algorithm>
#include <cmath>
#include <cfloat>
#include <climits>
#include <string>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"

namespace awqx {

namespace {
using nlohmann::json;

const json* find(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

int get_int(const json& j, const char* key, const std::string& file, int def, bool required = false) {
  const json* v = find(j, key);
  if (!v) {
    if (required) throw Error::mismatch(ErrorCode::format, file, key, "an integer", "no value");
    return def;
  }
  if (!v->is_number_integer()) throw Error::mismatch(ErrorCode::format, file, key, "an integer", v->dump());
  if (v->is_number_unsigned() ? v->get<uint64_t>() > static_cast<uint64_t>(INT_MAX)
                              : (v->get<int64_t>() > INT_MAX || v->get<int64_t>() < INT_MIN))
    throw Error::mismatch(ErrorCode::format, file, key, "a 32-bit integer", v->dump());
  return static_cast<int>(v->get<int64_t>());
}

float get_float(const json& j, const char* key, const std::string& file, float def) {
  const json* v = find(j, key);
  if (!v) return def;
  if (!v->is_number()) throw Error::mismatch(ErrorCode::format, file, key, "a number", v->dump());
  const double d = v->get<double>();
  // double -> float outside float's range is undefined behaviour: reject before converting.
  if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(FLT_MAX))
    throw Error::mismatch(ErrorCode::format, file, key, "a finite 32-bit float", v->dump());
  return static_cast<float>(d);
}

bool get_bool(const json& j, const char* key, const std::string& file, bool def) {
  const json* v = find(j, key);
  if (!v) return def;
  if (!v->is_boolean()) throw Error::mismatch(ErrorCode::format, file, key, "true or false", v->dump());
  return v->get<bool>();
}

std::string get_string(const json& j, const char* key, const std::string& file, const std::string& def) {
  const json* v = find(j, key);
  if (!v) return def;
  if (!v->is_string()) throw Error::mismatch(ErrorCode::format, file, key, "a string", v->dump());
  return v->get<std::string>();
}

// eos_token_id: an int or a list of ints (Llama-3 instruct lists several).
std::vector<int> get_id_list(const json& j, const char* key, const std::string& file) {
  const json* v = find(j, key);
  if (!v) return {};
  if (v->is_array()) {
    std::vector<int> out;
    for (size_t i = 0; i < v->size(); ++i) {
      json one = json::object();
      one[key] = (*v)[i];
      if ((*v)[i].is_null()) throw Error::mismatch(ErrorCode::format, file, key, "integer token ids", "null");
      out.push_back(get_int(one, key, file, -1));
    }
    return out;
  }
  return {get_int(j, key, file, -1)};
}

struct Arch {
  const char* architecture;
  const char* model_type;
};
constexpr Arch kArchs[] = {
    {"LlamaForCausalLM", "llama"},
    {"MistralForCausalLM", "mistral"},
    {"Qwen2ForCausalLM", "qwen2"},
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void parse_rope_scaling(const json& j, RopeScaling& r, const std::string& file) {
  const json* v = find(j, "rope_scaling");
  if (!v) return;
  if (!v->is_object()) throw Error::mismatch(ErrorCode::format, file, "rope_scaling", "an object or null", v->dump());
  // transformers renamed "type" to "rope_type"; both appear in the wild.
  std::string type = get_string(*v, "rope_type", file, "");
  if (type.empty()) type = get_string(*v, "type", file, "");
  if (type.empty() || type == "default") return;
  if (type != "llama3" && type != "linear")
    throw Error::mismatch(ErrorCode::unsupported_model, file, "rope_scaling.rope_type", "\"llama3\" or \"linear\"",
                          "\"" + type + "\"");
  r.type = type;
  r.factor = get_float(*v, "factor", file, 1.0f);
  if (type == "llama3") {
    r.low_freq_factor = get_float(*v, "low_freq_factor", file, r.low_freq_factor);
    r.high_freq_factor = get_float(*v, "high_freq_factor", file, r.high_freq_factor);
    r.original_max_position_embeddings =
        get_int(*v, "original_max_position_embeddings", file, r.original_max_position_embeddings);
  }
  if (!(r.factor > 0.0f) || !std::isfinite(r.factor))
    throw Error::mismatch(ErrorCode::format, file, "rope_scaling.factor", "a positive number", std::to_string(r.factor));
  if (type == "llama3") {
    if (!(r.low_freq_factor > 0.0f) || !(r.high_freq_factor > r.low_freq_factor) || !std::isfinite(r.high_freq_factor))
      throw Error::mismatch(ErrorCode::format, file, "rope_scaling.high_freq_factor",
                            "0 < low_freq_factor < high_freq_factor",
                            std::to_string(r.low_freq_factor) + ", " + std::to_string(r.high_freq_factor));
    if (r.original_max_position_embeddings <= 0)
      throw Error::mismatch(ErrorCode::format, file, "rope_scaling.original_max_position_embeddings", "> 0",
                            std::to_string(r.original_max_position_embeddings));
  }
}

void parse_model(const json& j, ModelConfig& c, const std::string& file) {
  if (!j.is_object()) throw Error::mismatch(ErrorCode::format, file, "", "a JSON object", j.type_name());
  // Architecture: architectures[0], else model_type.
  const json* archs = find(j, "architectures");
  c.model_type = get_string(j, "model_type", file, "");
  if (archs) {
    if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string())
      throw Error::mismatch(ErrorCode::format, file, "architectures", "a list of strings", archs->dump());
    const std::string a = (*archs)[0].get<std::string>();
    for (const Arch& k : kArchs)
      if (a == k.architecture) c.architecture = a;
    if (c.architecture.empty())
      throw Error::mismatch(ErrorCode::unsupported_model, file, "architectures",
                            "LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM", "\"" + a + "\"");
  } else {
    for (const Arch& k : kArchs)
      if (c.model_type == k.model_type) c.architecture = k.architecture;
    if (c.architecture.empty())
      throw Error::mismatch(ErrorCode::unsupported_model, file, "model_type", "llama, mistral or qwen2",
                            c.model_type.empty() ? "no architectures and no model_type" : "\"" + c.model_type + "\"");
  }
  for (const Arch& k : kArchs)
    if (c.architecture == k.architecture && c.model_type.empty()) c.model_type = k.model_type;

  c.hidden_size = get_int(j, "hidden_size", file, 0, true);
  c.intermediate_size = get_int(j, "intermediate_size", file, 0, true);
  c.num_hidden_layers = get_int(j, "num_hidden_layers", file, 0, true);
  c.num_attention_heads = get_int(j, "num_attention_heads", file, 0, true);
  c.num_key_value_heads = get_int(j, "num_key_value_heads", file, c.num_attention_heads);
  c.vocab_size = get_int(j, "vocab_size", file, 0, true);
  if (c.num_attention_heads <= 0)
    throw Error::mismatch(ErrorCode::format, file, "num_attention_heads", "> 0", std::to_string(c.num_attention_heads));
  c.head_dim = get_int(j, "head_dim", file, c.hidden_size / c.num_attention_heads);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", file, c.max_position_embeddings);
  c.rms_norm_eps = get_float(j, "rms_norm_eps", file, c.rms_norm_eps);
  c.rope_theta = get_float(j, "rope_theta", file, c.rope_theta);
  parse_rope_scaling(j, c.rope_scaling, file);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", file, false);
  // Qwen2's q/k/v projections always carry a bias; Llama exposes it as attention_bias.
  c.attention_bias = c.architecture == "Qwen2ForCausalLM" ? true : get_bool(j, "attention_bias", file, false);
  c.sliding_window = get_int(j, "sliding_window", file, 0);
  c.bos_token_id = get_int(j, "bos_token_id", file, -1);
  c.eos_token_ids = get_id_list(j, "eos_token_id", file);
  c.torch_dtype = get_string(j, "torch_dtype", file, get_string(j, "dtype", file, "float32"));
  if (const json* q = find(j, "quantization_config")) c.quant = quant_config_from_json(*q, file);
}

void positive(int v, const char* key, const std::string& file) {
  if (v <= 0) throw Error::mismatch(ErrorCode::format, file, key, "a positive integer", std::to_string(v));
}
}  // namespace

// ---- QuantConfig ---------------------------------------------------------------------------

QuantConfig quant_config_from_json(const nlohmann::json& j, const std::string& file) {
  try {
    QuantConfig q;
    q.present = true;
    if (!j.is_object())
      throw Error::mismatch(ErrorCode::format, file, "quantization_config", "an object", j.type_name());
    q.quant_method = lower(get_string(j, "quant_method", file, "awq"));
    if (q.quant_method != "awq")
      throw Error::mismatch(ErrorCode::unsupported_model, file, "quant_method", "\"awq\"", "\"" + q.quant_method + "\"");
    q.bits = find(j, "bits") ? get_int(j, "bits", file, 4) : get_int(j, "w_bit", file, 4);
    if (q.bits != 4) throw Error::mismatch(ErrorCode::unsupported_model, file, "bits", "4", std::to_string(q.bits));
    q.group_size = find(j, "group_size") ? get_int(j, "group_size", file, 128) : get_int(j, "q_group_size", file, 128);
    if (q.group_size != -1 && q.group_size <= 0)
      throw Error::mismatch(ErrorCode::format, file, "group_size", "-1 or a positive integer", std::to_string(q.group_size));
    q.zero_point = get_bool(j, "zero_point", file, true);
    q.version = lower(get_string(j, "version", file, "gemm"));
    if (q.version != "gemm" && q.version != "gemv")
      throw Error::mismatch(ErrorCode::unsupported_model, file, "version", "\"gemm\" or \"gemv\"", "\"" + q.version + "\"");
    if (const json* m = find(j, "modules_to_not_convert")) {
      if (!m->is_array()) throw Error::mismatch(ErrorCode::format, file, "modules_to_not_convert", "a list or null", m->dump());
      for (const auto& s : *m) {
        if (!s.is_string())
          throw Error::mismatch(ErrorCode::format, file, "modules_to_not_convert", "a list of strings", s.dump());
        q.modules_to_not_convert.push_back(s.get<std::string>());
      }
    }
    return q;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::format, file, "quantization_config", e.what());
  }
}

nlohmann::json to_json(const QuantConfig& q) {
  nlohmann::json j;
  j["quant_method"] = q.quant_method;
  j["bits"] = q.bits;
  j["group_size"] = q.group_size;
  j["zero_point"] = q.zero_point;
  j["version"] = q.version;
  j["modules_to_not_convert"] =
      q.modules_to_not_convert.empty() ? nlohmann::json(nullptr) : nlohmann::json(q.modules_to_not_convert);
  return j;
}

// ---- ModelConfig ---------------------------------------------------------------------------

ModelConfig ModelConfig::parse(const std::string& json_text, const std::string& file) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error::mismatch(ErrorCode::format, file, "", "valid JSON", "malformed JSON");
  ModelConfig c;
  c.raw_text = json_text;
  try {
    parse_model(j, c, file);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::format, file, "", e.what());
  }
  c.validate(file);
  return c;
}

// generation_config.json (when present) overrides bos/eos: it is what HF generate() uses, and
// Llama-3 instruct lists the end-of-turn token only there.
ModelConfig ModelConfig::load(const std::string& model_dir) {
  const std::string path = path_join(model_dir, "config.json");
  ModelConfig c = parse(read_file(path), path);
  const std::string gpath = path_join(model_dir, "generation_config.json");
  if (file_exists(gpath)) {
    nlohmann::json g = nlohmann::json::parse(read_file(gpath), nullptr, false);
    if (g.is_discarded() || !g.is_object())
      throw Error::mismatch(ErrorCode::format, gpath, "", "a JSON object", "malformed JSON");
    if (find(g, "bos_token_id")) c.bos_token_id = get_int(g, "bos_token_id", gpath, c.bos_token_id);
    if (find(g, "eos_token_id")) c.eos_token_ids = get_id_list(g, "eos_token_id", gpath);
  }
  return c;
}

void ModelConfig::validate(const std::string& file) const {
  positive(hidden_size, "hidden_size", file);
  positive(intermediate_size, "intermediate_size", file);
  positive(num_hidden_layers, "num_hidden_layers", file);
  positive(num_attention_heads, "num_attention_heads", file);
  positive(num_key_value_heads, "num_key_value_heads", file);
  positive(head_dim, "head_dim", file);
  positive(vocab_size, "vocab_size", file);
  positive(max_position_embeddings, "max_position_embeddings", file);
  if (num_attention_heads % num_key_value_heads != 0)
    throw Error::mismatch(ErrorCode::format, file, "num_key_value_heads",
                          "a divisor of num_attention_heads (" + std::to_string(num_attention_heads) + ")",
                          std::to_string(num_key_value_heads));
  if (head_dim % 2 != 0)  // rotate-half RoPE pairs dimension i with i + head_dim/2
    throw Error::mismatch(ErrorCode::format, file, "head_dim", "an even number", std::to_string(head_dim));
  if (!(rms_norm_eps > 0.0f) || !std::isfinite(rms_norm_eps))
    throw Error::mismatch(ErrorCode::format, file, "rms_norm_eps", "a positive number", std::to_string(rms_norm_eps));
  if (!(rope_theta > 0.0f) || !std::isfinite(rope_theta))
    throw Error::mismatch(ErrorCode::format, file, "rope_theta", "a positive number", std::to_string(rope_theta));
  if (sliding_window < 0)
    throw Error::mismatch(ErrorCode::format, file, "sliding_window", ">= 0 or null", std::to_string(sliding_window));
  for (int id : eos_token_ids)
    if (id < 0 || id >= vocab_size)
      throw Error::mismatch(ErrorCode::format, file, "eos_token_id", "ids in [0, vocab_size)", std::to_string(id));
  if (bos_token_id >= vocab_size)
    throw Error::mismatch(ErrorCode::format, file, "bos_token_id", "an id < vocab_size", std::to_string(bos_token_id));
}

std::string ModelConfig::to_json_text() const { return awqx::to_json(*this).dump(2); }

nlohmann::json raw_json(const ModelConfig& c) {
  return c.raw_text.empty() ? nlohmann::json() : nlohmann::json::parse(c.raw_text);
}

nlohmann::json to_json(const ModelConfig& c) {
  // Shortest decimal of the float (1e-05, not 9.999999747378752e-06), as HF configs write it.
  const auto dec = [](float f) { return std::stod(fmt::format("{}", f)); };
  json j = {{"architectures", {c.architecture}},
            {"model_type", c.model_type},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_hidden_layers},
            {"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"vocab_size", c.vocab_size},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", dec(c.rms_norm_eps)},
            {"rope_theta", dec(c.rope_theta)},
            {"rope_scaling", nullptr},
            {"hidden_act", "silu"},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"attention_bias", c.attention_bias},
            {"torch_dtype", c.torch_dtype}};
  if (c.head_dim > 0) j["head_dim"] = c.head_dim;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids;
  if (c.quant.present) j["quantization_config"] = to_json(c.quant);
  return j;
}

}  // namespace awqx

// model.safetensors.index.json parsing (internal; separate so the fuzzer can reach it).
#pragma once
#include <map>
#include <string>

namespace awqx {

// Returns tensor name -> shard file name (a plain file name, no directory part).
// Error{format} naming index_path and the key for malformed JSON, a missing/ill-typed weight_map,
// or a shard name that is empty or contains '/' (which could reach files outside the folder).
std::map<std::string, std::string> parse_safetensors_index(const std::string& text, const std::string& index_path);

}  // namespace awqx

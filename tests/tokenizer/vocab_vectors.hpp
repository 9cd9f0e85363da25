// Reader for llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf.inp / .out): each
// input is followed by a line "__ggml_vocab_test__"; the .out has one line of ids per input.
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace awqx_test {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// Loads ../shared/models/tokenizers/<stem>.inp/.out.
inline std::vector<VocabCase> load_vocab_cases(const std::string& stem) {
  const std::string inp = slurp(shared_path("models/tokenizers/" + stem + ".inp"));
  const std::string out = slurp(shared_path("models/tokenizers/" + stem + ".out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  size_t pos = 0;
  while (pos < inp.size()) {
    const size_t e = inp.find(sep, pos);
    if (e == std::string::npos) break;
    cases.push_back({inp.substr(pos, e - pos), {}});
    pos = e + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  size_t k = 0;
  while (std::getline(lines, line) && k < cases.size()) {
    std::istringstream ls(line);
    int32_t id;
    while (ls >> id) cases[k].ids.push_back(id);
    ++k;
  }
  EXPECT_EQ(k, cases.size()) << stem << ": .out has fewer lines than .inp has inputs";
  return cases;
}

inline std::string ids_str(const std::vector<int32_t>& v) {
  std::string s;
  for (auto x : v) s += std::to_string(x) + " ";
  return s;
}

// Encodes every case of <stem> (no BOS, as llama.cpp's test does); EXPECTs the ids (and, when
// check_decode, the round trip); returns how many matched.
template <class Tok>
int count_matches(const Tok& tok, const std::string& stem, bool check_decode = true) {
  const auto cases = load_vocab_cases(stem);
  // 46 inputs (PROVENANCE.md counts 47: a split of the .inp leaves an empty tail).
  EXPECT_EQ(cases.size(), 46u);
  int ok = 0;
  for (const auto& c : cases) {
    const auto ids = tok.encode(c.text, false);
    EXPECT_EQ(ids, c.ids) << stem << " input '" << c.text << "' got " << ids_str(ids);
    ok += ids == c.ids;
    if (check_decode) {
      EXPECT_EQ(tok.decode(ids), c.text);
    }
  }
  return ok;
}

}  // namespace awqx_test

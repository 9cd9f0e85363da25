// Uses the installed headers and library through pkg-config flags: version and a tokenizer error.
#include <cstdio>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "awqx/version.hpp"

int main() {
  try {
    awqx::Tokenizer::from_json_string("{not json", "t.json");
    return 1;
  } catch (const awqx::Error& e) {
    std::printf("awqx %s pkg-config ok: error=%s\n", awqx::version(), awqx::error_code_name(e.code()));
  }
  return 0;
}

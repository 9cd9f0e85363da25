// libFuzzer target: arbitrary bytes as a GGUF file. Parsing may throw awqx::Error; when it
// succeeds, the tokenizer.ggml.* vocabulary (if any) is built and used on a fixed text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "awqx/error.hpp"
#include "awqx/gguf.hpp"
#include "tokenizer/bpe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const awqx::GgufFile f = awqx::GgufFile::parse(bytes, "fuzz.gguf");
    (void)f.get_string("tokenizer.ggml.model", "");
    const auto tok = awqx::tok::make_bpe(awqx::tok::spec_from_gguf(f));
    const auto ids = tok->encode("Hello world, \xff\xfe <s> 123 \xe4\xb8\x96", true);
    for (int32_t id : ids)
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    (void)tok->decode(ids);
  } catch (const awqx::Error&) {
  }
  return 0;
}

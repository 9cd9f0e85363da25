// Built-in chat templates: expected strings are the HF chat templates' outputs (Llama-2-chat,
// Llama-3-instruct, Qwen2 ChatML), written out from the published jinja, minus the BOS.
#include <gtest/gtest.h>

#include <fstream>

#include "awqx/error.hpp"
#include "awqx/tokenizer.hpp"
#include "test_util.hpp"

using namespace awqx;

TEST(ChatTemplate, Llama2) {
  const std::string s = apply_chat_template(
      "llama-2", {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}}, true);
  EXPECT_EQ(s, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]");
}

TEST(ChatTemplate, Llama3) {
  const std::string s = apply_chat_template("llama-3", {{"system", "S"}, {"user", "U"}}, true);
  EXPECT_EQ(s,
            "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, ChatMl) {
  EXPECT_EQ(apply_chat_template("chatml", {{"user", "U"}}, true),
            "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(apply_chat_template("chatml", {{"user", "U"}}, false), "<|im_start|>user\nU<|im_end|>\n");
}

TEST(ChatTemplate, Errors) {
  EXPECT_THROW(apply_chat_template("vicuna", {{"user", "U"}}, true), Error);
  EXPECT_THROW(apply_chat_template("chatml", {{"robot", "U"}}, true), Error);
}

TEST(ChatTemplate, Detect) {
  EXPECT_EQ(detect_chat_family(awqx_test::shared_path("models/tokenizers/mistral-7b-instruct-v0.3")), "llama-2");
  EXPECT_EQ(detect_chat_family(awqx_test::shared_path("models/tiny-llama-7m")), "llama-2");
  awqx_test::TempDir d;
  std::ofstream(d / "tokenizer_config.json") << R"({"chat_template": "{% for m in messages %}<|im_start|>{{m.role}}{% endfor %}"})";
  EXPECT_EQ(detect_chat_family(d.path()), "chatml");
  awqx_test::TempDir d3;
  std::ofstream(d3 / "config.json") << R"({"model_type": "llama", "vocab_size": 128256})";
  EXPECT_EQ(detect_chat_family(d3.path()), "llama-3");
}

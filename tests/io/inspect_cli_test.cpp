// `awqx inspect` end to end on the real tiny model; the parameter count comes from python.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>

#include "test_util.hpp"

TEST(InspectCli, TinyLlama) {
  const std::string dir = awqx_test::shared_path("models/tiny-llama-7m");
  int rc = 0;
  // Independent parameter count: sum of shape products from the raw header.
  const std::string py = awqx_test::run_command(
      "/usr/bin/python3 -c \"import json,struct,sys,math; b=open(sys.argv[1],'rb').read(); "
      "n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); h.pop('__metadata__',None); "
      "print(sum(math.prod(v['shape']) for v in h.values()))\" " +
          dir + "/model.safetensors",
      &rc);
  ASSERT_EQ(rc, 0);
  const std::string expected_params = py.substr(0, py.find('\n'));
  const std::string out = awqx_test::run_command(awqx_test::cli_path() + " inspect " + dir, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("architecture: LlamaForCausalLM"), std::string::npos) << out;
  EXPECT_NE(out.find("parameters: " + expected_params + " "), std::string::npos) << out << expected_params;
  EXPECT_NE(out.find("quantization: none"), std::string::npos);
  EXPECT_NE(out.find("model.layers.5.self_attn.k_proj.weight"), std::string::npos);
  EXPECT_NE(out.find("BF16  [128, 256]"), std::string::npos);
}

TEST(InspectCli, MissingDirIsOneLineError) {
  awqx_test::TempDir tmp;
  int rc = 0;
  const std::string out = awqx_test::run_command(awqx_test::cli_path() + " inspect " + tmp.path() + " 2>&1", &rc);
  EXPECT_EQ(rc, 2) << out;  // Error{io}
  EXPECT_NE(out.find(tmp.path()), std::string::npos) << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
}

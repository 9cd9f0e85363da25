// Issue 7's bad inputs that need a real model (tiny-llama-7m from ../shared) or a quantized one,
// run through the CLI with the strict contract of bad_input_util.hpp: non-zero exit, no
// signal, exactly one stderr line naming file and field, no partial output, inputs unchanged.
// The header-level cases (truncated shard, header length, offsets, dtype) are in
// bad_inputs_test.cpp.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "awqx/fileutil.hpp"
#include "awqx/quantize.hpp"
#include "awqx/safetensors.hpp"
#include "cli/bad_input_util.hpp"

using namespace awqx_test;
namespace fs = std::filesystem;

namespace {

std::string tiny() { return shared_path("models/tiny-llama-7m"); }

// tiny-llama-7m quantized once per process (RTN, g128, GEMM: a second of work), then copied
// into each test's own folder so damage never leaks between tests.
const std::string& awq_model() {
  static TempDir dir;
  static const std::string path = [] {
    awqx::QuantizeOptions o;
    o.method = "rtn";
    awqx::quantize_model(tiny(), dir / "awq", o);
    return dir / "awq";
  }();
  return path;
}

std::string copy_awq(const TempDir& d) {
  fs::copy(awq_model(), d / "m", fs::copy_options::recursive);
  return d / "m";
}

// Rewrites `file` with `edit` applied to its tensor list (views into the old mapping stay
// valid: write_safetensors renames a new file over it).
template <class F>
void rewrite(const std::string& file, F edit) {
  auto st = awqx::SafetensorsFile::open(file);
  std::vector<awqx::TensorView> ts;
  for (const auto& n : st->names()) ts.push_back(st->get(n));
  edit(ts);
  awqx::write_safetensors(file, ts);
}

void put_value_in_scales(const std::string& dir, float v) {
  rewrite(dir + "/model.safetensors", [&](std::vector<awqx::TensorView>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.1.mlp.up_proj.scales") {
        auto vals = awqx::to_f32(t);
        vals[5] = v;
        t = awqx::make_f16_tensor(t.name, t.shape, vals);
      }
  });
}

CliResult generate(const std::string& dir) {
  return run_cli({"generate", "--model", dir, "--prompt", "Once", "--max-new-tokens", "1"});
}

// Runs `awqx quantize` on tiny-llama-7m with `extra` flags into d/out, checking the input model
// and every file in `inputs` are unchanged and nothing is left in d.
CliResult quantize(const TempDir& d, std::vector<std::string> extra, const std::vector<std::string>& inputs = {},
                   const std::string& shell_prefix = "", const std::string& out = "") {
  const auto before = tree_hashes(tiny());
  std::map<std::string, uint64_t> in_before;
  for (const auto& p : inputs) in_before.merge(tree_hashes(p));
  std::vector<std::string> args = {"quantize", "--model", tiny(), "--out", out.empty() ? d / "out" : out};
  args.insert(args.end(), extra.begin(), extra.end());
  CliResult r = run_cli(args, shell_prefix);
  EXPECT_EQ(tree_hashes(tiny()), before) << "the input model changed";
  std::map<std::string, uint64_t> in_after;
  for (const auto& p : inputs) in_after.merge(tree_hashes(p));
  EXPECT_EQ(in_after, in_before) << "an input file changed";
  return r;
}

}  // namespace

TEST(BadInputCli, OverlappingOffsets) {
  TempDir d;
  const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  std::string bytes(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += h + std::string(12, '\x01');
  std::ofstream(d / "model.safetensors", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  awqx::write_file_atomic(d / "config.json", R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
    "num_key_value_heads": 1, "vocab_size": 16, "rms_norm_eps": 1e-5})");
  const auto before = tree_hashes(d.path());
  expect_one_line_error(run_cli({"inspect", d.path()}), {"model.safetensors", "overlapping"});
  EXPECT_EQ(tree_hashes(d.path()), before);
}

TEST(BadInputCli, TensorMissingFromIndex) {
  TempDir d;
  const std::string m = copy_awq(d);
  auto st = awqx::SafetensorsFile::open(m + "/model.safetensors");
  nlohmann::json wm = nlohmann::json::object();
  for (const auto& n : st->names())
    if (n != "model.layers.2.self_attn.o_proj.qweight") wm[n] = "model.safetensors";
  awqx::write_file_atomic(m + "/model.safetensors.index.json", nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", wm}}.dump());
  const auto before = tree_hashes(m);
  expect_one_line_error(generate(m), {"model.safetensors.index.json", "model.layers.2.self_attn.o_proj.qweight"});
  EXPECT_EQ(tree_hashes(m), before);
}

TEST(BadInputCli, AwqScalesDisagreeWithGroupSize) {
  TempDir d;
  const std::string m = copy_awq(d);
  std::string cfg = slurp_file(m + "/config.json");
  const size_t at = cfg.find("\"group_size\": 128");
  ASSERT_NE(at, std::string::npos) << cfg;
  cfg.replace(at, 17, "\"group_size\": 64");
  awqx::write_file_atomic(m + "/config.json", cfg);
  const auto before = tree_hashes(m);
  expect_one_line_error(generate(m), {"model.safetensors", ".scales", "shape"});
  EXPECT_EQ(tree_hashes(m), before);
}

TEST(BadInputCli, AwqQweightShapeDisagreesWithScales) {
  TempDir d;
  const std::string m = copy_awq(d);
  rewrite(m + "/model.safetensors", [](std::vector<awqx::TensorView>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.mlp.gate_proj.qweight") {  // [256, 96] -> [128, 96]: K halves
        t.shape = {128, 96};
        t.nbytes /= 2;
      }
  });
  const auto before = tree_hashes(m);
  expect_one_line_error(generate(m), {"model.safetensors", "model.layers.0.mlp.gate_proj.qweight", "[256, 96]"});
  EXPECT_EQ(tree_hashes(m), before);
}

TEST(BadInputCli, NanScales) {
  TempDir d;
  const std::string m = copy_awq(d);
  put_value_in_scales(m, std::numeric_limits<float>::quiet_NaN());
  const auto before = tree_hashes(m);
  expect_one_line_error(generate(m), {"model.safetensors", "model.layers.1.mlp.up_proj.scales", "finite"});
  EXPECT_EQ(tree_hashes(m), before);
}

TEST(BadInputCli, InfScales) {
  TempDir d;
  const std::string m = copy_awq(d);
  put_value_in_scales(m, std::numeric_limits<float>::infinity());
  const auto before = tree_hashes(m);
  expect_one_line_error(generate(m), {"model.safetensors", "model.layers.1.mlp.up_proj.scales", "finite"});
  EXPECT_EQ(tree_hashes(m), before);
}

TEST(BadInputCli, NonUtf8CalibrationFile) {
  TempDir d;
  std::ofstream(d / "calib.txt", std::ios::binary) << "A fine paragraph.\n\nLatin-1 caf\xe9 here.\n";
  const CliResult r = quantize(d, {"--calib", d / "calib.txt"}, {d / "calib.txt"});
  expect_one_line_error(r, {d / "calib.txt", "calibration text", "UTF-8", "offset 30"});
  expect_no_leftovers(d.path(), d / "out");
}

TEST(BadInputCli, NonUtf8PplData) {
  TempDir d;
  std::ofstream(d / "data.txt", std::ios::binary) << "Some text \xff\xfe then more.\n";
  const auto before = tree_hashes(d / "data.txt");
  const CliResult r = run_cli({"ppl", "--model", tiny(), "--data", d / "data.txt", "--ctx", "16"});
  expect_one_line_error(r, {d / "data.txt", "--data", "UTF-8", "offset 10"});
  EXPECT_EQ(tree_hashes(d / "data.txt"), before);
}

TEST(BadInputCli, EmptyCalibrationFile) {
  TempDir d;
  std::ofstream(d / "empty.jsonl") << "";
  const CliResult r = quantize(d, {"--calib", d / "empty.jsonl"}, {d / "empty.jsonl"});
  expect_one_line_error(r, {d / "empty.jsonl", "calibration text", "non-empty sample"});
  expect_no_leftovers(d.path(), d / "out");
}

TEST(BadInputCli, UnknownArchitectureForQuantize) {
  TempDir d;
  fs::create_directories(d / "m");
  awqx::write_file_atomic(d / "m/config.json",
                          R"({"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 8})");
  const auto before = tree_hashes(d / "m");
  const CliResult r = run_cli({"quantize", "--model", d / "m", "--out", d / "out", "--method", "rtn"});
  expect_one_line_error(r, {d / "m/config.json", "architectures", "GPTNeoXForCausalLM"});
  expect_no_leftovers(d.path(), d / "out");
  EXPECT_EQ(tree_hashes(d / "m"), before);
}

TEST(BadInputCli, GroupSize96DoesNotDivideK) {
  TempDir d;
  const CliResult r = quantize(d, {"--method", "rtn", "--group-size", "96"});
  expect_one_line_error(r, {"model.safetensors", "--group-size", "96"});
  expect_no_leftovers(d.path(), d / "out");
}

TEST(BadInputCli, OutputDirectoryExists) {
  TempDir d;
  fs::create_directories(d / "out");
  awqx::write_file_atomic(d / "out/keep.txt", "mine");
  const auto before = tree_hashes(d / "out");
  const CliResult r = quantize(d, {"--method", "rtn"});
  expect_one_line_error(r, {d / "out", "--out", "exist"});
  EXPECT_EQ(tree_hashes(d / "out"), before) << "the existing folder was touched";
  EXPECT_FALSE(fs::exists(d / "out.tmp"));
}

// Root ignores permission bits, so a chmod-ed folder only blocks a normal user. As root the
// location is sysfs (mkdir there fails with EPERM for root too).
TEST(BadInputCli, ReadOnlyOutputLocation) {
  TempDir d;
  std::string out;
  if (::geteuid() != 0) {
    fs::create_directories(d / "ro");
    fs::permissions(d / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    out = d / "ro/out";
  } else {
    std::fprintf(stderr, "[ running as root: chmod does not block root, using /sys as the read-only location ]\n");
    out = "/sys/awqx-test-out-" + std::to_string(::getpid());
  }
  const CliResult r = quantize(d, {"--method", "rtn"}, {}, "", out);
  expect_one_line_error(r, {out + ".tmp", "--out"});
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  if (::geteuid() != 0) fs::permissions(d / "ro", fs::perms::owner_all);
}

TEST(BadInputCli, OutputUnderARegularFile) {
  TempDir d;
  awqx::write_file_atomic(d / "file", "x");
  const CliResult r = quantize(d, {"--method", "rtn"}, {d / "file"}, "", d / "file/out");
  expect_one_line_error(r, {d / "file/out.tmp", "--out"});
  EXPECT_EQ(slurp_file(d / "file"), "x");
}

// Disk full, portably: RLIMIT_FSIZE (ulimit -f, in 512-byte blocks for sh) makes write() fail
// with EFBIG like ENOSPC would; awqx ignores SIGXFSZ so it sees the error instead of dumping
// core. 16 blocks = 8 KiB: the first layer's resume file (~400 KB) cannot be written.
TEST(BadInputCli, DiskFullDuringFirstSave) {
  TempDir d;
  const CliResult r = quantize(d, {"--method", "rtn"}, {}, "ulimit -f 16;");
  expect_one_line_error(r, {"layer-0.safetensors", "write failed"});
  expect_no_leftovers(d.path(), d / "out");
}

// Disk full while writing the final shard, after every layer is done: the finished layers are
// kept for --resume (named in the one error line), no partial shard or temp file is left, and
// a rerun with space completes from them.
TEST(BadInputCli, DiskFullDuringFinalSaveKeepsOnlyResumeFiles) {
  TempDir d;
  const CliResult r = quantize(d, {"--method", "rtn"}, {}, "ulimit -f 4096;");  // 2-4 MiB per file
  expect_one_line_error(r, {"model.safetensors", "write failed", "--resume"});
  EXPECT_FALSE(fs::exists(d / "out"));
  for (const auto& e : fs::recursive_directory_iterator(d / "out.tmp")) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(e.is_directory() || name.rfind("layer-", 0) == 0 || name == "state.json") << "left behind: " << e.path();
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << "left behind: " << e.path();
  }
  const CliResult again = run_cli({"quantize", "--model", tiny(), "--out", d / "out", "--method", "rtn"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("(6 resumed)"), std::string::npos) << again.out;
  EXPECT_FALSE(fs::exists(d / "out.tmp"));
}

// A real full disk (the issue's "small tmpfs"): ENOSPC, not EFBIG. The tmpfs is mounted in a
// private mount namespace (`unshare -m`, or `unshare -rm` through a user namespace when not
// root), so nothing is mounted on the host and the mount vanishes with the shell; the shell
// therefore records what is left on the tmpfs before it exits. Where neither namespace kind is
// allowed the tests skip with the reason (the ulimit tests above still cover the contract).
namespace {

struct TmpfsRun {
  CliResult first;                // the command on a tmpfs of the given size
  std::vector<std::string> left;  // paths left on the tmpfs afterwards ("./out.tmp", ...)
  int again_exit = -1;            // the same command after growing the tmpfs to 64 MiB
  std::string again_out;
  std::vector<std::string> again_left;
  std::map<std::string, int64_t> left_bytes, again_bytes;  // path -> file size
};

// Reads a `find -printf '%p\t%s\n'` listing: the paths, and their sizes into `bytes`.
std::vector<std::string> read_listing(const std::string& path, std::map<std::string, int64_t>* bytes) {
  std::vector<std::string> paths;
  std::ifstream f(path);
  for (std::string l; std::getline(f, l);) {
    const size_t tab = l.find('\t');
    if (tab == std::string::npos) continue;
    paths.push_back(l.substr(0, tab));
    (*bytes)[paths.back()] = std::stoll(l.substr(tab + 1));
  }
  return paths;
}

std::string tmpfs_dir(const TempDir& d) { return d / "fs"; }

// Runs `awqx args` (which write under tmpfs_dir(d)) on a tmpfs of `size`; false if no mount
// namespace can be made here.
bool run_on_tmpfs(const TempDir& d, const std::string& size, const std::vector<std::string>& args, TmpfsRun* r) {
  const std::string mnt = tmpfs_dir(d);
  fs::create_directories(mnt);
  const std::string mount = "mount -t tmpfs -o size=" + size + " tmpfs " + shell_quote(mnt);
  std::string unshare;
  for (const char* u : {"unshare -m", "unshare -rm"}) {
    const std::string probe = std::string(u) + " sh -c " + shell_quote(mount) + " >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) {
      unshare = u;
      break;
    }
  }
  if (unshare.empty()) return false;
  std::string awqx = shell_quote(cli_path());
  for (const auto& a : args) awqx += " " + shell_quote(a);
  awqx += " </dev/null";
  const std::string left = "(cd " + shell_quote(mnt) + " && find . -mindepth 1 -printf '%p\\t%s\\n')";
  const std::string script = mount + " || exit 99\n" +                                      //
                             awqx + " >" + shell_quote(d / "out1") + " 2>" + shell_quote(d / "err1") + "\n" +
                             "echo $? >" + shell_quote(d / "rc1") + "\n" +                   //
                             left + " >" + shell_quote(d / "left1") + "\n" +                 //
                             "mount -o remount,size=64m " + shell_quote(mnt) + " || exit 98\n" +
                             awqx + " >" + shell_quote(d / "out2") + " 2>&1\n" +             //
                             "echo $? >" + shell_quote(d / "rc2") + "\n" +                   //
                             left + " >" + shell_quote(d / "left2") + "\n";
  const std::string cmd = unshare + " sh -c " + shell_quote(script);
  const int st = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "namespace shell failed: " << st;
  const int rc1 = std::stoi(slurp_file(d / "rc1"));
  r->first.exit_code = rc1 > 128 ? -1 : rc1;
  r->first.signal = rc1 > 128 ? rc1 - 128 : 0;
  r->first.out = slurp_file(d / "out1");
  r->first.err = slurp_file(d / "err1");
  r->left = read_listing(d / "left1", &r->left_bytes);
  r->again_exit = std::stoi(slurp_file(d / "rc2"));
  r->again_out = slurp_file(d / "out2");
  r->again_left = read_listing(d / "left2", &r->again_bytes);
  return true;
}

std::vector<std::string> quantize_args(const TempDir& d) {
  return {"quantize", "--model", tiny(), "--out", tmpfs_dir(d) + "/out", "--method", "rtn"};
}

// After a failed quantize only <out>.tmp/.awqx-resume/{layer-*,state.json} may remain.
void expect_only_resume_files(const std::vector<std::string>& left) {
  EXPECT_FALSE(left.empty()) << "the resume files were not kept";
  for (const auto& p : left) {
    const std::string name = fs::path(p).filename().string();
    EXPECT_TRUE(p == "./out.tmp" || p == "./out.tmp/.awqx-resume" ||
                (p.rfind("./out.tmp/.awqx-resume/", 0) == 0 && (name.rfind("layer-", 0) == 0 || name == "state.json")))
        << "left behind: " << p;
  }
}

// The rerun with space resumes all 6 layers and leaves exactly the finished model folder.
void expect_resumed_to_the_model(const TmpfsRun& q) {
  EXPECT_EQ(q.again_exit, 0) << q.again_out;
  EXPECT_NE(q.again_out.find("(6 resumed)"), std::string::npos) << q.again_out;
  for (const auto& p : q.again_left) EXPECT_TRUE(p == "./out" || p.rfind("./out/", 0) == 0) << "left behind: " << p;
  EXPECT_EQ(std::count(q.again_left.begin(), q.again_left.end(), "./out/model.safetensors"), 1);
}

constexpr const char* kNoNamespace = "no mount namespace (unshare -m / -rm refused)";

}  // namespace

// 256 KiB: the first layer's resume file (~400 KB) does not fit: nothing may be left.
TEST(BadInputCli, TmpfsFullDuringFirstSave) {
  TempDir d;
  TmpfsRun q;
  if (!run_on_tmpfs(d, "256k", quantize_args(d), &q)) GTEST_SKIP() << kNoNamespace;
  expect_one_line_error(q.first, {"layer-0.safetensors", "No space left on device"});
  EXPECT_TRUE(q.left.empty()) << "left behind on the tmpfs: " << q.left.front();
  EXPECT_EQ(q.again_exit, 0) << q.again_out;
}

// 4 MiB: the six ~400 KB layer files fit, the final shard does not: only the resume files stay,
// and after the disk grows the same command resumes all six layers and leaves exactly the model.
TEST(BadInputCli, TmpfsFullDuringFinalSaveThenResume) {
  TempDir d;
  TmpfsRun q;
  if (!run_on_tmpfs(d, "4m", quantize_args(d), &q)) GTEST_SKIP() << kNoNamespace;
  expect_one_line_error(q.first, {"model.safetensors", "No space left on device", "--resume"});
  expect_only_resume_files(q.left);
  expect_resumed_to_the_model(q);
}

// The disk fills after the shard and config.json are written, while the tokenizer is copied:
// the finished shard is dropped too, <out>.tmp holds only the resume folder. The tmpfs size is
// computed from the file sizes of the 4 MiB run (tmpfs counts whole 4 KiB pages): the resume
// files + shard + config.json fit, plus half of tokenizer.model.
TEST(BadInputCli, TmpfsFullDuringTokenizerCopyKeepsOnlyResumeFolder) {
  TempDir d1;
  TmpfsRun sizes;
  if (!run_on_tmpfs(d1, "4m", quantize_args(d1), &sizes)) GTEST_SKIP() << kNoNamespace;
  auto pages = [](int64_t b) { return (b + 4095) / 4096; };
  int64_t need = 0;
  for (const auto& [p, b] : sizes.left_bytes)
    if (p.rfind("./out.tmp/.awqx-resume/", 0) == 0) need += pages(b);
  ASSERT_GT(need, 6) << "the 4 MiB run kept no resume files";
  for (const char* f : {"./out/model.safetensors", "./out/config.json"}) {
    ASSERT_EQ(sizes.again_bytes.count(f), 1u) << f;
    need += pages(sizes.again_bytes[f]);
  }
  ASSERT_EQ(sizes.again_bytes.count("./out/tokenizer.model"), 1u);
  ASSERT_GE(pages(sizes.again_bytes["./out/tokenizer.model"]), 4) << "too small to split";
  need += pages(sizes.again_bytes["./out/tokenizer.model"]) / 2;

  TempDir d;
  TmpfsRun q;
  ASSERT_TRUE(run_on_tmpfs(d, std::to_string(need * 4) + "k", quantize_args(d), &q));
  expect_one_line_error(q.first, {"tokenizer.model", "No space left on device", "--resume"});
  expect_only_resume_files(q.left);
  expect_resumed_to_the_model(q);
}

// The other folder writers, make-model and convert, on a tmpfs too small for their second file
// (make-model: shard 2 of 4; convert: model.safetensors): nothing left, and with space the same
// command succeeds (no stale <out>.tmp in the way).
TEST(BadInputCli, TmpfsFullDuringMakeModelAndConvert) {
  const std::string stories = shared_path("models/stories260K");
  for (bool convert : {false, true}) {
    TempDir d;
    TmpfsRun r;
    const std::string out = tmpfs_dir(d) + "/out";
    const std::vector<std::string> args =
        convert ? std::vector<std::string>{"convert", "--llama2c", stories + "/stories260K.bin", "--tokenizer",
                                           stories + "/tok512.bin", "--out", out}
                : std::vector<std::string>{"make-model", "--shape", "tiny", "--out", out};
    if (!run_on_tmpfs(d, convert ? "600k" : "128k", args, &r)) GTEST_SKIP() << kNoNamespace;
    SCOPED_TRACE(args[0]);
    expect_one_line_error(r.first, {"out.tmp/", "No space left on device"});
    EXPECT_TRUE(r.left.empty()) << "left behind on the tmpfs: " << r.left.front();
    EXPECT_EQ(r.again_exit, 0) << r.again_out;
    for (const auto& p : r.again_left) EXPECT_TRUE(p == "./out" || p.rfind("./out/", 0) == 0) << "left behind: " << p;
    EXPECT_GT(std::count(r.again_left.begin(), r.again_left.end(), "./out/config.json"), 0);
  }
}

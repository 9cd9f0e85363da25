// llama2.c checkpoint → HF Llama folder (include/awqx/convert.hpp).
// llama2.c legacy layout (Karpathy's run.c, memory_map_weights): 7 int32 header, then fp32
// token_embedding [vocab][dim], rms_att [L][dim], wq [L][dim][dim], wk [L][kv_dim][dim],
// wv [L][kv_dim][dim], wo [L][dim][dim], rms_ffn [L][dim], w1 [L][hidden][dim],
// w2 [L][dim][hidden], w3 [L][hidden][dim], rms_final [dim], freq_cis_real/imag
// [seq_len][head_size/2] each (unused), then wcls [vocab][dim] when the classifier is unshared.
#include "awqx/convert.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "awqx/config.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/safetensors.hpp"
#include "awqx/tensor.hpp"
#include "awqx/tokenizer.hpp"
#include "io/config_json.hpp"

namespace awqx {
namespace {

// a * b with overflow → Error{format} naming the field.
int64_t mul_checked(int64_t a, int64_t b, const std::string& file, const char* field) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw Error(ErrorCode::format, file, field, "expected sizes that fit in 64 bits, found an overflow");
  return r;
}

struct Mapping {
  std::shared_ptr<const void> keep;
  const uint8_t* base = nullptr;
  size_t size = 0;
};

Mapping map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::io, path, "", fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat sb{};
  if (::fstat(fd, &sb) != 0) {
    ::close(fd);
    throw Error(ErrorCode::io, path, "", "cannot stat");
  }
  Mapping m;
  m.size = static_cast<size_t>(sb.st_size);
  if (m.size == 0) {
    ::close(fd);
    throw Error::mismatch(ErrorCode::format, path, "header", "a llama2.c checkpoint", "an empty file");
  }
  void* p = ::mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw Error(ErrorCode::io, path, "", fmt::format("mmap failed: {}", std::strerror(errno)));
  const size_t sz = m.size;
  m.keep = std::shared_ptr<const void>(p, [sz](const void* q) { ::munmap(const_cast<void*>(q), sz); });
  m.base = static_cast<const uint8_t*>(p);
  return m;
}

Llama2cHeader parse_header(const uint8_t* p, size_t size, const std::string& file) {
  if (size < 28)
    throw Error::mismatch(ErrorCode::format, file, "header", "at least 28 bytes (7 int32)", fmt::format("{} bytes", size));
  int32_t v[7];
  std::memcpy(v, p, sizeof(v));
  Llama2cHeader h;
  h.dim = v[0];
  h.hidden_dim = v[1];
  h.n_layers = v[2];
  h.n_heads = v[3];
  h.n_kv_heads = v[4];
  h.shared_classifier = v[5] > 0;
  h.vocab_size = v[5] == std::numeric_limits<int32_t>::min() ? 0 : (v[5] < 0 ? -v[5] : v[5]);
  h.seq_len = v[6];
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  const int32_t vals[7] = {h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len};
  for (int i = 0; i < 7; ++i)
    if (vals[i] <= 0)
      throw Error::mismatch(ErrorCode::format, file, names[i], "a positive value", std::to_string(v[i]));
  if (h.dim % h.n_heads != 0 || (h.dim / h.n_heads) % 2 != 0)
    throw Error::mismatch(ErrorCode::format, file, "n_heads", fmt::format("a divisor of dim {} giving an even head size", h.dim),
                          std::to_string(h.n_heads));
  if (h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0)
    throw Error::mismatch(ErrorCode::format, file, "n_kv_heads", fmt::format("a divisor of n_heads {}", h.n_heads),
                          std::to_string(h.n_kv_heads));
  int64_t expected = 0;
  try {
    expected = h.expected_file_bytes();
  } catch (const Error& e) {
    throw Error(e.code(), file, e.field(), e.message());
  }
  if (static_cast<int64_t>(size) != expected)
    throw Error::mismatch(ErrorCode::format, file, "file size",
                          fmt::format("{} bytes for dim {} hidden_dim {} n_layers {} n_heads {} n_kv_heads {} "
                                      "vocab_size {} seq_len {}",
                                      expected, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, v[5], h.seq_len),
                          fmt::format("{} bytes", size));
  return h;
}

// HF row order from llama2.c's: within each head, HF row j (first half) ← row 2j and HF row
// j + hd/2 ← row 2j + 1 (transformers' convert_llama_weights `permute`, Meta → HF).
std::vector<float> permute_rope_rows(const float* w, int64_t heads, int64_t hd, int64_t cols) {
  std::vector<float> out(static_cast<size_t>(heads * hd * cols));
  const int64_t half = hd / 2;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < half; ++j)
      for (int64_t p = 0; p < 2; ++p) {
        const float* src = w + (h * hd + 2 * j + p) * cols;
        float* dst = out.data() + (h * hd + p * half + j) * cols;
        std::memcpy(dst, src, static_cast<size_t>(cols) * sizeof(float));
      }
  return out;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

int64_t Llama2cHeader::expected_file_bytes() const {
  const std::string f = "llama2.c header";
  const int64_t d = dim, hd = dim / n_heads, kv = mul_checked(hd, n_kv_heads, f, "n_kv_heads"), L = n_layers;
  const int64_t dd = mul_checked(d, d, f, "dim");
  const int64_t dkv = mul_checked(d, kv, f, "dim");
  const int64_t dh = mul_checked(d, hidden_dim, f, "hidden_dim");
  int64_t per_layer = 0;
  for (int64_t x : {d, dd, dkv, dkv, dd, d, dh, dh, dh})
    if (__builtin_add_overflow(per_layer, x, &per_layer)) throw Error(ErrorCode::format, f, "dim", "overflow");
  int64_t floats = mul_checked(per_layer, L, f, "n_layers");
  const int64_t emb = mul_checked(vocab_size, d, f, "vocab_size");
  const int64_t freq = mul_checked(seq_len, hd, f, "seq_len");  // real + imag, hd/2 each
  for (int64_t x : {emb, d, freq, shared_classifier ? int64_t{0} : emb})
    if (__builtin_add_overflow(floats, x, &floats)) throw Error(ErrorCode::format, f, "vocab_size", "overflow");
  return 28 + mul_checked(floats, 4, f, "dim");
}

Llama2cHeader read_llama2c_header(const std::string& bin_path) {
  const Mapping m = map_file(bin_path);
  return parse_header(m.base, m.size, bin_path);
}

void convert_llama2c(const std::string& bin_path, const std::string& tokenizer_path, const std::string& out_dir) {
  namespace fs = std::filesystem;
  const Mapping m = map_file(bin_path);
  const Llama2cHeader h = parse_header(m.base, m.size, bin_path);
  if (!file_exists(tokenizer_path)) throw Error(ErrorCode::io, tokenizer_path, "--tokenizer", "expected a file, found none");
  std::error_code ec;
  if (fs::exists(out_dir, ec))
    throw Error::mismatch(ErrorCode::io, out_dir, "--out", "a path that does not exist yet", "an existing path");

  const int64_t d = h.dim, hd = d / h.n_heads, kv = hd * h.n_kv_heads, L = h.n_layers, hid = h.hidden_dim;
  const float* p = reinterpret_cast<const float*>(m.base + 28);
  std::vector<TensorView> ts;
  auto view = [&](std::string name, std::vector<int64_t> shape, const float* data) {
    TensorView t;
    t.name = std::move(name);
    t.file = bin_path;
    t.dtype = DType::F32;
    t.shape = std::move(shape);
    t.data = data;
    t.nbytes = static_cast<size_t>(t.numel()) * sizeof(float);
    t.owner = m.keep;
    ts.push_back(std::move(t));
  };
  const float* emb = p;
  p += h.vocab_size * d;
  const float* rms_att = p;
  p += L * d;
  const float* wq = p;
  p += L * d * d;
  const float* wk = p;
  p += L * kv * d;
  const float* wv = p;
  p += L * kv * d;
  const float* wo = p;
  p += L * d * d;
  const float* rms_ffn = p;
  p += L * d;
  const float* w1 = p;
  p += L * hid * d;
  const float* w2 = p;
  p += L * d * hid;
  const float* w3 = p;
  p += L * hid * d;
  const float* rms_final = p;
  p += d;
  p += h.seq_len * hd;  // freq_cis_real + freq_cis_imag: RoPE is recomputed from rope_theta
  const float* wcls = h.shared_classifier ? nullptr : p;

  view("model.embed_tokens.weight", {h.vocab_size, d}, emb);
  for (int64_t l = 0; l < L; ++l) {
    const std::string pre = fmt::format("model.layers.{}.", l);
    view(pre + "input_layernorm.weight", {d}, rms_att + l * d);
    ts.push_back(make_f32_tensor(pre + "self_attn.q_proj.weight", {d, d}, permute_rope_rows(wq + l * d * d, h.n_heads, hd, d)));
    ts.push_back(
        make_f32_tensor(pre + "self_attn.k_proj.weight", {kv, d}, permute_rope_rows(wk + l * kv * d, h.n_kv_heads, hd, d)));
    view(pre + "self_attn.v_proj.weight", {kv, d}, wv + l * kv * d);
    view(pre + "self_attn.o_proj.weight", {d, d}, wo + l * d * d);
    view(pre + "post_attention_layernorm.weight", {d}, rms_ffn + l * d);
    view(pre + "mlp.gate_proj.weight", {hid, d}, w1 + l * hid * d);
    view(pre + "mlp.down_proj.weight", {d, hid}, w2 + l * d * hid);
    view(pre + "mlp.up_proj.weight", {hid, d}, w3 + l * hid * d);
  }
  view("model.norm.weight", {d}, rms_final);
  if (wcls) view("lm_head.weight", {h.vocab_size, d}, wcls);

  ModelConfig mc;
  mc.architecture = "LlamaForCausalLM";
  mc.model_type = "llama";
  mc.hidden_size = h.dim;
  mc.intermediate_size = h.hidden_dim;
  mc.num_hidden_layers = h.n_layers;
  mc.num_attention_heads = h.n_heads;
  mc.num_key_value_heads = h.n_kv_heads;
  mc.head_dim = static_cast<int>(hd);
  mc.vocab_size = h.vocab_size;
  mc.max_position_embeddings = h.seq_len;
  mc.rms_norm_eps = 1e-5f;  // llama2.c's run.c hard-codes 1e-5
  mc.tie_word_embeddings = h.shared_classifier;
  mc.bos_token_id = 1;
  mc.eos_token_ids = {2};
  mc.torch_dtype = "float32";
  const nlohmann::json cfg = to_json(mc);

  build_dir_atomic(out_dir, "--out", [&](const std::string& tmp) {
    write_file_atomic(path_join(tmp, "config.json"), cfg.dump(2) + "\n");
    write_file_atomic(path_join(tmp, "generation_config.json"),
                      nlohmann::json{{"bos_token_id", 1}, {"eos_token_id", 2}}.dump(2) + "\n");
    write_safetensors(path_join(tmp, "model.safetensors"), ts, {{"format", "pt"}, {"source", "llama2.c"}});
    if (ends_with(tokenizer_path, ".model")) {
      write_file_atomic(path_join(tmp, "tokenizer.model"), read_file(tokenizer_path));
      const nlohmann::json tc = {{"tokenizer_class", "LlamaTokenizer"}, {"add_bos_token", true},
                                 {"add_eos_token", false},             {"bos_token", "<s>"},
                                 {"eos_token", "</s>"},                {"unk_token", "<unk>"}};
      write_file_atomic(path_join(tmp, "tokenizer_config.json"), tc.dump(2) + "\n");
    } else {
      write_tokenizer_json_from_llama2c(tokenizer_path, tmp);
    }
  });
}

}  // namespace awqx

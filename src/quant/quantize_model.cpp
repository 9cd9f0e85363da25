// quantize_model: validation, calibration, layer streaming with per-layer resume files, and the
// final AutoAWQ folder (built in <out>.tmp, renamed when complete).
//
// Resume design: <out>.tmp/.awqx-resume/state.json holds a hash of everything that determines
// the output (options, model config and tensor list, calibration tokens); layer-<i>.safetensors
// holds layer i's final tensors, written atomically. The final shards are always assembled from
// those files, so an interrupted-then-resumed run writes the same bytes as an uninterrupted one.
// A finished layer still needs its FP forward (the next layer's input is the FP output of the
// original layer), which is cheap next to the search.
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <deque>
#include <map>
#include <cmath>
#include <algorithm>
#include <fnmatch.h>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "awqx/comm.hpp"
#include "awqx/config.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/quantize.hpp"
#include "awqx/safetensors.hpp"
#include "awqx/tokenizer.hpp"
#include "io/config_json.hpp"
#include "quant/awq.hpp"
#include "quant/calib_data.hpp"
#include "quant/layer_output.hpp"
#include "quant/model_card.hpp"
#include "quant/quantize_options.hpp"

namespace awqx {

size_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;
}

namespace {
namespace fs = std::filesystem;
using quant::kNumLin;
using quant::LayerNames;

bool excluded(const std::string& name, const std::vector<std::string>& pats) {
  for (const auto& p : pats) {
    if (p.empty()) continue;
    // Plain names match as substrings (AutoAWQ); globs match the whole name or a suffix of it.
    if (p.find_first_of("*?[") != std::string::npos
            ? fnmatch(p.c_str(), name.c_str(), 0) == 0 || fnmatch(("*" + p).c_str(), name.c_str(), 0) == 0
            : name.find(p) != std::string::npos)
      return true;
  }
  return false;
}

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// validated: set once the inputs are checked and the ranks are about to agree on that.
QuantizeReport quantize_model_impl(const std::string& model_dir, const std::string& out_dir, const QuantizeOptions& opt,
                                   const QuantizeProgressFn& progress, bool& validated) {
  const auto t0 = std::chrono::steady_clock::now();
  Comm& comm = opt.comm ? *opt.comm : local_comm();
  const bool rank0 = comm.rank() == 0;
  quant::validate_options(opt);
  const quant::MatPrecision precision = quant::search_precision(opt);
  if (out_dir.empty()) throw Error::mismatch(ErrorCode::invalid_argument, "", "--out", "an output directory", "empty");
  const std::string out = fs::path(out_dir).lexically_normal().string();
  const std::string tmp = out + ".tmp", rdir = path_join(tmp, ".awqx-resume");
  if (fs::exists(out) && !opt.overwrite)
    throw Error::mismatch(ErrorCode::invalid_argument, out, "--out", "a path that does not exist (or --overwrite)",
                          "an existing path");

  const ModelConfig cfg = ModelConfig::load(model_dir);
  if (cfg.model_type != "llama" && cfg.model_type != "mistral" && cfg.model_type != "qwen2")
    throw Error::mismatch(ErrorCode::unsupported_model, path_join(model_dir, "config.json"), "model_type",
                          "llama, mistral or qwen2", cfg.model_type);
  if (cfg.quant.present)
    throw Error::mismatch(ErrorCode::invalid_argument, path_join(model_dir, "config.json"), "quantization_config",
                          "an FP model", "an already quantized one");
  const TensorStore store = TensorStore::open_dir(model_dir);
  quant::LayerShape shape;
  shape.hidden = cfg.hidden_size;
  shape.inter = cfg.intermediate_size;
  shape.n_heads = cfg.num_attention_heads;
  shape.n_kv = cfg.num_key_value_heads;
  shape.head_dim = cfg.head_dim;
  shape.eps = cfg.rms_norm_eps;
  const int n_layers = cfg.num_hidden_layers;

  // Which linears are quantized, and every shape check, before any work.
  quant::QParams qp;
  qp.w_bit = opt.w_bit;
  qp.zero_point = opt.zero_point;
  std::vector<std::array<bool, kNumLin>> quantize(static_cast<size_t>(n_layers));
  for (int i = 0; i < n_layers; ++i) {
    const LayerNames nm{fmt::format("model.layers.{}.", i)};
    for (int l = 0; l < kNumLin; ++l) {
      const TensorView w = store.get(nm.lin(l) + ".weight");
      const int64_t n = shape.out_features(l), k = shape.in_features(l);
      w.expect_shape({n, k});
      w.expect_dtype({DType::F32, DType::F16, DType::BF16});
      bool& q = quantize[static_cast<size_t>(i)][static_cast<size_t>(l)];
      q = !excluded(nm.lin(l), opt.modules_to_not_convert);
      if (!q) continue;
      const int64_t g = opt.q_group_size == -1 ? k : opt.q_group_size;
      if (k % g != 0)
        throw Error::mismatch(ErrorCode::invalid_argument, w.file, "--group-size",
                              fmt::format("a group size dividing in_features of {} ({})", w.name, k),
                              std::to_string(opt.q_group_size));
      if (n % 8 != 0 || (opt.version == "gemv" && k % 8 != 0))
        throw Error::mismatch(ErrorCode::shape, w.file, w.name, "out_features (and for gemv in_features) divisible by 8",
                              shape_str(w.shape));
    }
  }
  qp.group_size = opt.q_group_size == -1 ? 0 : opt.q_group_size;

  // Calibration (AWQ only) and the options hash.
  const bool awq = opt.method == "awq";
  std::vector<int32_t> calib;
  const int64_t seqlen = opt.max_calib_seq_len;
  if (awq) {
    auto tok = Tokenizer::load(model_dir);
    const auto samples = quant::gather_calib_samples(opt);
    calib = quant::make_calib_tokens(samples, *tok, opt.max_calib_samples, opt.max_calib_seq_len,
                                     opt.chat ? detect_chat_family(model_dir) : "");
    for (int32_t id : calib)
      if (id < 0 || id >= cfg.vocab_size)
        throw Error::mismatch(ErrorCode::format, model_dir, "tokenizer", fmt::format("ids < vocab_size {}", cfg.vocab_size),
                              std::to_string(id));
  }
  nlohmann::json hj = {{"method", opt.method}, {"w_bit", opt.w_bit}, {"group", opt.q_group_size},
                       {"zp", opt.zero_point}, {"version", opt.version}, {"duo", opt.duo_scaling},
                       {"clip", opt.apply_clip}, {"n_grid", opt.n_grid}, {"mtnc", opt.modules_to_not_convert},
                       {"seqlen", seqlen}, {"config", raw_json(cfg)}, {"tensors", store.names()},
                       {"bytes", store.total_bytes()}, {"format", 1}, {"compat", opt.autoawq_compat},
                       {"identity", opt.identity_scale}, {"validate", opt.validate},
                       {"check_fraction", opt.check_fraction}, {"sequential", opt.sequential_inputs},
                       {"search_precision", precision == quant::MatPrecision::bf16 ? "bf16" : "fp32"}};
  const std::string hs = hj.dump();
  const uint64_t hash = fnv1a(calib.data(), calib.size() * sizeof(int32_t), fnv1a(hs.data(), hs.size()));
  const std::string hash_hex = fmt::format("{:016x}", hash);

  // Every rank checked the same inputs; agree before any rank touches a file or waits for others,
  // so that a bad input stops every rank with one report (quantize_model's catch is the other side).
  validated = true;
  if (const int f = first_failed_rank(comm, true); f >= 0) throw RankFailed(f);

  // Temp dir (rank 0): continue when the state matches, else start clean. Then every rank learns
  // which layers are finished (rank 0 is about to add files the others must not mistake for old).
  auto layer_file = [&](int i) { return path_join(rdir, fmt::format("layer-{}.safetensors", i)); };
  auto layer_done = [&](int i) {
    if (!file_exists(layer_file(i))) return false;
    try {
      SafetensorsFile::open(layer_file(i));
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  std::vector<uint8_t> done_flags(static_cast<size_t>(n_layers), 0);
  run_agreed(comm, [&] {
    if (!rank0) return;
    const std::string state_path = path_join(rdir, "state.json");
    bool keep = false;
    if (opt.resume && file_exists(state_path)) {
      auto st = nlohmann::json::parse(read_file(state_path), nullptr, false);
      keep = !st.is_discarded() && st.value("options_hash", "") == hash_hex;
    }
    if (!keep) remove_all(tmp);
    std::error_code ec;
    fs::create_directories(rdir, ec);
    if (ec) throw Error::mismatch(ErrorCode::io, tmp, "--out", "a writable location", ec.message());
    if (!keep)
      write_file_atomic(state_path, nlohmann::json{{"options_hash", hash_hex}, {"n_layers", n_layers}}.dump(2) + "\n");
    for (int i = 0; i < n_layers; ++i) done_flags[static_cast<size_t>(i)] = layer_done(i) ? 1 : 0;
  });
  comm.broadcast(done_flags, 0);

  QuantizeReport rep;
  rep.n_layers = n_layers;
  rep.calib_tokens = static_cast<int64_t>(calib.size());
  const int64_t n_blocks = awq ? static_cast<int64_t>(calib.size()) / seqlen : 0, h = shape.hidden;
  rep.calib_blocks = n_blocks;
  // This rank's calibration blocks (all of them in one process).
  const Share mine = share_of(n_blocks, comm.rank(), comm.size());
  const quant::Blocks blocks{n_blocks, mine.begin, mine.count(), seqlen, comm.size() > 1 ? &comm : nullptr};
  const int64_t t = blocks.rows(), row0 = mine.begin * seqlen;
  const bool compat = opt.autoawq_compat, sequential = awq && !compat && opt.sequential_inputs;
  int64_t n_check = 0;  // the last n_check calibration blocks validate the search (none: no check)
  if (awq && !compat && opt.validate && n_blocks >= 2)
    n_check = std::clamp<int64_t>(std::llround(static_cast<double>(n_blocks) * opt.check_fraction), 1, n_blocks - 1);

  // Layer-0 input: embedding rows of the calibration tokens.
  std::vector<float> x, y;
  ops::RopeTable rope;
  if (awq) {
    const TensorView emb = store.get("model.embed_tokens.weight");
    emb.expect_shape({cfg.vocab_size, h});
    x.resize(static_cast<size_t>(t * h));
    y.resize(x.size());
    for (int64_t r = 0; r < t; ++r) {
      TensorView row = emb;
      row.shape = {h};
      row.nbytes = static_cast<size_t>(h) * dtype_size(emb.dtype);
      row.data = static_cast<const uint8_t*>(emb.data) + static_cast<size_t>(calib[static_cast<size_t>(row0 + r)]) * row.nbytes;
      to_f32(row, x.data() + r * h);
    }
    rope = ops::RopeTable(shape.head_dim, cfg.rope_theta, cfg.rope_scaling, seqlen);
  }

  int last_todo = -1;
  for (int i = 0; i < n_layers; ++i)
    if (!done_flags[static_cast<size_t>(i)]) last_todo = i;

  std::set<std::string> consumed;
  for (int i = 0; i < n_layers; ++i) {
    const auto lt0 = std::chrono::steady_clock::now();
    const LayerNames nm{fmt::format("model.layers.{}.", i)};
    for (int l = 0; l < kNumLin; ++l) consumed.insert({nm.lin(l) + ".weight", nm.lin(l) + ".bias"});
    consumed.insert({nm.prefix + "input_layernorm.weight", nm.prefix + "post_attention_layernorm.weight"});
    const bool done = done_flags[static_cast<size_t>(i)] != 0;
    if (done && (!awq || i > last_todo)) {  // nothing left that needs this layer's output
      ++rep.resumed_layers;
      rep.layer_seconds.push_back(0);
      rep.layer_loss.push_back(-1);
      rep.layer_groups.emplace_back();
      if (progress) progress({i + 1, n_layers, 0, 0, -1, true, {}});
      continue;
    }
    // Materialize this layer in fp32 (the only one in memory).
    quant::LayerWeights lw;
    lw.ln1 = to_f32(store.get(nm.prefix + "input_layernorm.weight"));
    lw.ln2 = to_f32(store.get(nm.prefix + "post_attention_layernorm.weight"));
    if (static_cast<int64_t>(lw.ln1.size()) != h || static_cast<int64_t>(lw.ln2.size()) != h)
      store.get(nm.prefix + "input_layernorm.weight").expect_shape({h});
    for (int l = 0; l < kNumLin; ++l) {
      lw.w[l] = to_f32(store.get(nm.lin(l) + ".weight"));
      if (store.has(nm.lin(l) + ".bias")) {
        const TensorView b = store.get(nm.lin(l) + ".bias");
        b.expect_shape({shape.out_features(l)});
        lw.b[l] = to_f32(b);
      }
    }
    quant::AwqLayerReport lrep;
    double loss = -1;
    const bool* qflags = quantize[static_cast<size_t>(i)].data();
    std::vector<QuantizeGroupReport> greps;
    if (awq && !(sequential && done)) {
      // The FP layer on this layer's input x (FP activations, or with --sequential-inputs the
      // quantized model's): the reference the search matches, and the recorded linear inputs.
      quant::LayerInputs rec;
      quant::layer_forward(lw, shape, rope, x.data(), blocks.count, seqlen, y.data(), done ? nullptr : &rec);
      if (!done) {
        quant::AwqParams ap;
        ap.q = qp;
        ap.n_grid = opt.n_grid;
        ap.duo_scaling = opt.duo_scaling;
        ap.apply_clip = opt.apply_clip;
        ap.identity_scale = !compat && opt.identity_scale;
        ap.precision = precision;
        ap.n_check_blocks = n_check;
        for (int l = 0; l < kNumLin; ++l) ap.quantize[l] = qflags[l];
        quant::awq_scale_and_clip(lw, shape, rope, rec, blocks, ap, &lrep);
        double s = 0;
        int c = 0;
        for (double v : lrep.loss)
          if (v > 0) s += v, ++c;
        loss = c ? s / c : 0;
        greps = quant::group_reports(lrep);
      }
      if (!sequential) std::swap(x, y);
    }
    if (!done) {
      std::vector<TensorView> ts = quant::layer_tensors(lw, shape, nm, qflags, qp, opt.version);
      if (sequential) {  // next input: this layer as quantized, on the quantized model's activations
        std::map<std::string, const TensorView*> byname;
        for (const auto& tv : ts) byname[tv.name] = &tv;
        const quant::LayerWeights lq = quant::dequantized_layer(
            [&](const std::string& n) { auto it = byname.find(n); return it == byname.end() ? nullptr : it->second; },
            nm, qflags, opt, layer_file(i));
        quant::layer_forward(lq, shape, rope, x.data(), blocks.count, seqlen, y.data(), nullptr);
        std::swap(x, y);
      }
      for (const auto& extra : store.names())
        if (extra.rfind(nm.prefix, 0) == 0 && !consumed.count(extra)) {
          ts.push_back(quant::f16_copy(store.get(extra), extra));
          consumed.insert(extra);
        }
      run_agreed(comm, [&] {
        if (rank0) write_safetensors(layer_file(i), ts);
      });
    } else {
      ++rep.resumed_layers;
      if (sequential) {
        const auto lf = SafetensorsFile::open(layer_file(i));
        std::deque<TensorView> held;  // stable addresses
        const quant::LayerWeights lq = quant::dequantized_layer(
            [&](const std::string& n) -> const TensorView* {
              if (!lf->has(n)) return nullptr;
              held.push_back(lf->get(n));
              return &held.back();
            },
            nm, qflags, opt, layer_file(i));
        quant::layer_forward(lq, shape, rope, x.data(), blocks.count, seqlen, y.data(), nullptr);
        std::swap(x, y);
      }
    }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - lt0).count();
    rep.layer_seconds.push_back(done ? 0 : sec);
    rep.layer_loss.push_back(loss);
    rep.layer_groups.push_back(greps);
    if (progress) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress({i + 1, n_layers, el, el / (i + 1) * (n_layers - i - 1), loss, done, std::move(greps)});
    }
  }
  x = {};
  y = {};

  // Final folder (rank 0): embed, layers (from the resume files), norm, lm_head, anything else; fp16.
  run_agreed(comm, [&] {
    if (!rank0) return;
    std::vector<TensorView> all;
    std::vector<std::shared_ptr<SafetensorsFile>> keep_open;
    auto add_fp16 = [&](const std::string& name) {
      if (!store.has(name) || consumed.count(name)) return;
      all.push_back(quant::f16_copy(store.get(name), name));
      consumed.insert(name);
    };
    add_fp16("model.embed_tokens.weight");
    for (int i = 0; i < n_layers; ++i) {
      keep_open.push_back(SafetensorsFile::open(layer_file(i)));
      for (const auto& n : keep_open.back()->names()) all.push_back(keep_open.back()->get(n));
    }
    add_fp16("model.norm.weight");
    add_fp16("lm_head.weight");
    for (const auto& n : store.names()) add_fp16(n);
    rep.files = write_safetensors_sharded(tmp, all, opt.shard_size);

    nlohmann::json cj = raw_json(cfg);
    QuantConfig qc;
    qc.present = true;
    qc.bits = opt.w_bit;
    qc.group_size = opt.q_group_size;
    qc.zero_point = opt.zero_point;
    qc.version = opt.version;
    qc.modules_to_not_convert = opt.modules_to_not_convert;
    cj["quantization_config"] = to_json(qc);
    cj["torch_dtype"] = "float16";
    write_file_atomic(path_join(tmp, "config.json"), cj.dump(2) + "\n");
    rep.files.push_back("config.json");
    for (const char* f : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                          "generation_config.json", "added_tokens.json", "vocab.json", "merges.txt", "tokenizer.bin"}) {
      const std::string src = path_join(model_dir, f);
      if (!file_exists(src)) continue;
      write_file_atomic(path_join(tmp, f), read_file(src));
      rep.files.push_back(f);
    }
    write_file_atomic(path_join(tmp, "README.md"), quant::model_card(model_dir, cfg, opt, rep.calib_tokens));
    rep.files.push_back("README.md");
    keep_open.clear();
    all.clear();
    remove_all(rdir);
    commit_dir(tmp, out, "--out");  // replaces an existing out only with --overwrite (checked above)
  });
  rep.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rep.peak_rss_bytes = peak_rss_bytes();
  return rep;
}

bool has_finished_layers(const std::string& rdir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(rdir, ec))
    if (e.path().filename().string().rfind("layer-", 0) == 0) return true;
  return false;
}

}  // namespace

// A failed run (bad input, disk full, unwritable --out) leaves nothing behind, except finished
// layers: those are hours of work on a big model and exactly what --resume continues from, so
// <out>.tmp/.awqx-resume (and nothing else) is kept when it holds any, and the one error line
// says so.
QuantizeReport quantize_model(const std::string& model_dir, const std::string& out_dir, const QuantizeOptions& opt,
                              const QuantizeProgressFn& progress) {
  const std::string tmp = out_dir.empty() ? "" : fs::path(out_dir).lexically_normal().string() + ".tmp";
  auto cleanup = [&]() -> bool {  // true when resume files were kept
    if (tmp.empty() || !fs::exists(tmp)) return false;
    if (!has_finished_layers(path_join(tmp, ".awqx-resume"))) {
      remove_all(tmp);
      return false;
    }
    // Keep only the resume folder: finished output files of the final phase (a shard, config.json
    // written before the disk filled) are rewritten by the resumed run anyway.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(tmp, ec))
      if (e.path().filename() != ".awqx-resume") remove_all(e.path().string());
    return true;
  };
  const bool rank0 = !opt.comm || opt.comm->rank() == 0;  // only rank 0 owns the output
  bool validated = false;
  try {
    try {
      return quantize_model_impl(model_dir, out_dir, opt, progress, validated);
    } catch (...) {
      // Failed while checking inputs: the other ranks wait at the validation agreement; join it.
      // The lowest failed rank reports, the others end quietly (all checked the same inputs).
      if (!opt.comm || opt.comm->size() == 1 || validated) throw;
      if (const int f = first_failed_rank(*opt.comm, false); f != opt.comm->rank()) throw RankFailed(f);
      opt.comm->failure_agreed = true;
      throw;
    }
  } catch (const RankFailed&) {  // another rank failed and reports it; rank 0 still cleans up
    if (rank0) cleanup();
    throw;
  } catch (const Error& e) {
    if (!rank0) throw;
    if (cleanup())
      throw Error(e.code(), e.file(), e.field(), e.message() + " (finished layers kept in " + tmp + " for --resume)");
    throw;
  } catch (...) {
    if (rank0) cleanup();
    throw;
  }
}

}  // namespace awqx

// AWQ / RTN quantization of a Hugging Face Llama-family folder (Llama, Mistral, Qwen2) into an
// AutoAWQ-compatible int4 folder, on CPU, one decoder layer in memory at a time.
// Every CLI flag of `awqx quantize` is a field here (same words, AutoAWQ's names).
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace awqx {

class Comm;  // awqx/comm.hpp

struct QuantizeOptions {
  std::string method = "awq";          // "awq" | "rtn" (round-to-nearest, same grouping)
  int w_bit = 4;                       // only 4 is supported
  int q_group_size = 128;              // 32/64/128/256/..., -1 = whole in_features; must divide every K
  bool zero_point = true;
  std::string version = "gemm";        // "gemm" | "gemv" (AutoAWQ on-disk layout)
  bool duo_scaling = true;
  bool apply_clip = true;
  int n_grid = 20;
  // awqx's safeguards (issue 16; all ignored under autoawq_compat):
  bool identity_scale = true;          // s = 1 (plain RTN) is always a scale candidate
  bool validate = false;               // a scale/clip must beat s = 1 / no clip on the fit blocks and on
  double check_fraction = 0.5;         //   the last check_fraction of them (0 < f < 1); off by default:
                                       //   it lost on average in the README table (issue 16)
  bool sequential_inputs = false;      // calibrate layer i+1 on the output of quantized layers 0..i
  bool autoawq_compat = false;         // AutoAWQ's algorithm exactly (byte-identical to awqx <= 0.x)
  std::vector<std::string> modules_to_not_convert;  // substrings, or globs matching a name's suffix
  std::vector<std::string> calib_files;             // .txt / .jsonl / .jsonl.zst / "pileval"
  std::vector<std::string> calib_texts;
  std::string calib_dir;               // where "pileval" is looked up (else $AWQX_CALIB_DIR)
  bool chat = false;                   // wrap each sample in the model's chat template
  int max_calib_samples = 128;
  int max_calib_seq_len = 512;
  size_t shard_size = 5000000000;      // bytes per output shard
  bool resume = true;                  // continue from <out>.tmp when its options hash matches
  bool overwrite = false;              // replace an existing <out>
  bool low_cpu_mem = true;             // layer streaming (always on; kept for AutoAWQ parity)
  std::string backend;                 // unused by the search; recorded for parity
  // Precision of the search's matmuls (the layer forward per grid point, the clip errors):
  // "auto" = bf16 with fp32 accumulation (oneDNN) where the CPU has AMX-BF16 or AVX512-BF16 and
  // not under autoawq_compat, else fp32; "fp32"; "bf16". The calibration forward that feeds the
  // next layer always runs in fp32.
  std::string search_precision = "auto";
  std::string command;                 // what made the run, for the model card (README.md); "" = generic
  // Ranks sharing the calibration (awqx/comm.hpp; the CLI's is MPI_COMM_WORLD under mpirun).
  // Every rank calls quantize_model with the same arguments; each forwards its share of the
  // calibration blocks, all agree on every choice, rank 0 alone writes. The output is the same
  // bytes for any number of ranks. nullptr = this process alone.
  Comm* comm = nullptr;
};

// Per scaling group of one layer: which candidate won and why (the per-layer report).
struct QuantizeGroupReport {
  std::string group;                   // "qkv", "o", "gate_up", "down"
  std::string choice;                  // "ratio 0.35", "identity", "identity (check)"
  double rtn_fit = -1, rtn_check = -1; // block loss of plain RTN (s = 1) on fit / check blocks
  double fit = -1, check = -1;         // same for the choice; -1 = not measured
  std::string clip;                    // clip outcome of the group's linears, e.g. "v 40/512 (3 reverted)"
};

struct QuantizeProgress {
  int layer = 0, n_layers = 0;         // layer just finished (1-based)
  double elapsed_s = 0, eta_s = 0;
  double loss = -1;                    // mean best scale-search loss of the layer (-1 for rtn)
  bool resumed = false;                // layer taken from the resume files
  std::vector<QuantizeGroupReport> groups;  // searched groups of this layer (empty for rtn/resumed)
};

struct QuantizeReport {
  int n_layers = 0, resumed_layers = 0;
  int64_t calib_tokens = 0, calib_blocks = 0;
  std::vector<double> layer_seconds;   // search+quantize time per layer (0 for resumed)
  std::vector<double> layer_loss;      // mean best scale-search loss per layer
  std::vector<std::vector<QuantizeGroupReport>> layer_groups;  // per layer, as in QuantizeProgress
  double total_seconds = 0;
  size_t peak_rss_bytes = 0;           // getrusage ru_maxrss at the end
  std::vector<std::string> files;      // output files (relative to out_dir)
};

using QuantizeProgressFn = std::function<void(const QuantizeProgress&)>;

// Quantizes model_dir into out_dir (built in "<out_dir>.tmp", renamed when complete).
// Throws Error{invalid_argument} (bad options, group size not dividing K, out_dir exists without
// overwrite), Error{io} (unreadable input, unwritable output), Error{format|shape|dtype} (bad
// model files), Error{unsupported_model}. All checks run before any search work.
QuantizeReport quantize_model(const std::string& model_dir, const std::string& out_dir, const QuantizeOptions& opt,
                              const QuantizeProgressFn& progress = {});

// Peak resident set size of this process so far, bytes.
size_t peak_rss_bytes();

}  // namespace awqx

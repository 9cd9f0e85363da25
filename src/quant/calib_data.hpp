// Calibration data for AWQ (awq-reference.md §4): samples from files / strings, tokenized and
// cut into blocks the way AutoAWQ's get_calib_dataset does.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace awqx {
class Tokenizer;
struct QuantizeOptions;
}

namespace awqx::quant {

// Samples of one file: .txt (blank-line-separated paragraphs), .jsonl ("text" field per line),
// .jsonl.zst (the same, zstd-compressed). A leading UTF-8 BOM is ignored.
// Error{io} missing/unreadable; Error{format} not UTF-8 (offset named), bad JSON line, no
// non-empty sample.
std::vector<std::string> read_calib_file(const std::string& path);
// The same on file contents already in memory (the format comes from `path`'s extension; no
// file access). max_decompressed bounds a .zst file's output (a zstd "bomb" of a few KB can
// expand to GBs); Error{format} above it. Exposed for the calib fuzz target.
std::vector<std::string> parse_calib_bytes(std::string bytes, const std::string& path,
                                           size_t max_decompressed = size_t{1} << 34);

// "pileval" -> a local copy in calib_dir (or $AWQX_CALIB_DIR): pileval.jsonl.zst, pileval.jsonl,
// val.jsonl.zst, val.jsonl. Error{io} naming both places when absent (never the network).
std::string resolve_pileval(const std::string& calib_dir);

// All samples of the options' --calib files and --calib-text strings, in the order given.
// No files and no texts = pileval. Error{invalid_argument} if nothing remains.
std::vector<std::string> gather_calib_samples(const QuantizeOptions& opt);

// Strip, (chat: wrap as one user turn with the model's template family), tokenize with BOS as
// the tokenizer does, skip empty and longer than seqlen, stop at n_samples kept, concatenate,
// cut into floor(len/seqlen) blocks. Returns n_blocks*seqlen ids.
// Error{invalid_argument} when fewer than seqlen tokens remain.
std::vector<int32_t> make_calib_tokens(const std::vector<std::string>& samples, const Tokenizer& tok, int n_samples,
                                       int seqlen, const std::string& chat_family);

}  // namespace awqx::quant

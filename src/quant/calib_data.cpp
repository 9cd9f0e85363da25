// Calibration samples: file formats, pileval resolution, AutoAWQ-style sampling into blocks.
#include "quant/calib_data.hpp"

#include <cstdlib>
#include <memory>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zstd.h>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/quantize.hpp"
#include "awqx/tokenizer.hpp"

namespace awqx::quant {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

constexpr const char* kSpace = " \t\r\n\f\v";

std::string strip(const std::string& s) {
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// Streams the whole input through the decoder. Keeps calling while the output buffer comes back
// full, as zstd's API asks (decoded bytes may still be buffered after the last input byte is
// consumed; libzstd 1.5 happens not to do that, the loop no longer relies on it). One stream and
// one staging buffer per thread are reused across calls (zstd's advice: creating a context
// allocates and clears its window, which dominated the cost of small files).
std::string decompress_zstd(const std::string& in, const std::string& path, size_t max_out) {
  std::string out;
  thread_local const std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> ds(ZSTD_createDStream(),
                                                                                ZSTD_freeDStream);
  thread_local std::string buf(ZSTD_DStreamOutSize(), '\0');
  if (!ds) throw Error(ErrorCode::internal, path, "zstd", "cannot create a zstd stream");
  ZSTD_DCtx_reset(ds.get(), ZSTD_reset_session_only);  // a previous call may have thrown mid-frame
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  size_t ret = 1;
  for (;;) {
    ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
    ret = ZSTD_decompressStream(ds.get(), &ob, &ib);
    if (ZSTD_isError(ret))
      throw Error::mismatch(ErrorCode::format, path, "zstd", "a valid zstd stream", ZSTD_getErrorName(ret));
    if (out.size() + ob.pos > max_out)
      throw Error::mismatch(ErrorCode::format, path, "zstd", fmt::format("at most {} bytes decompressed", max_out),
                            "more");
    out.append(buf.data(), ob.pos);
    if (ib.pos == ib.size && ob.pos < ob.size) break;  // input used up and nothing left to flush
  }
  if (ret != 0) throw Error::mismatch(ErrorCode::format, path, "zstd", "a complete zstd frame", "a truncated one");
  return out;
}

}  // namespace

std::vector<std::string> read_calib_file(const std::string& path) { return parse_calib_bytes(read_file(path), path); }

std::vector<std::string> parse_calib_bytes(std::string text, const std::string& path, size_t max_decompressed) {
  const bool zst = ends_with(path, ".zst");
  if (zst) text = decompress_zstd(text, path, max_decompressed);
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  if (const size_t bad = utf8_invalid_offset(text); bad != std::string::npos)
    throw Error::mismatch(ErrorCode::format, path, "calibration text", "UTF-8 text",
                          fmt::format("invalid byte 0x{:02x} at offset {}", static_cast<unsigned char>(text[bad]), bad));
  std::vector<std::string> out;
  const std::string base = zst ? path.substr(0, path.size() - 4) : path;
  if (ends_with(base, ".jsonl") || ends_with(base, ".json")) {
    size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
      size_t e = text.find('\n', pos);
      if (e == std::string::npos) e = text.size();
      const std::string line = strip(text.substr(pos, e - pos));
      ++line_no;
      pos = e + 1;
      if (line.empty()) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string())
        throw Error::mismatch(ErrorCode::format, path, fmt::format("line {}", line_no),
                              "a JSON object with a string \"text\" field", line.substr(0, 40));
      std::string s = strip(j["text"].get<std::string>());
      if (!s.empty()) out.push_back(std::move(s));
    }
  } else {  // paragraphs separated by blank (whitespace-only) lines
    // Only non-blank lines enter `para`, so a non-empty `para` always strips to a non-empty
    // sample (and stripping once per paragraph keeps long paragraphs linear, not quadratic).
    std::string para;
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t e = text.find('\n', pos);
      if (e == std::string::npos) e = text.size();
      const std::string_view line(text.data() + pos, e - pos);
      pos = e + 1;
      if (line.find_first_not_of(kSpace) == std::string_view::npos) {
        if (!para.empty()) out.push_back(strip(para));
        para.clear();
      } else {
        para += line;
        para += '\n';
      }
      if (e == text.size()) break;
    }
    if (!para.empty()) out.push_back(strip(para));
  }
  if (out.empty())
    throw Error::mismatch(ErrorCode::format, path, "calibration text", "at least one non-empty sample", "none");
  return out;
}

std::string resolve_pileval(const std::string& calib_dir) {
  std::vector<std::string> dirs;
  if (!calib_dir.empty()) dirs.push_back(calib_dir);
  if (const char* env = std::getenv("AWQX_CALIB_DIR"); env && *env) dirs.push_back(env);
  for (const auto& d : dirs)
    for (const char* name : {"pileval.jsonl.zst", "pileval.jsonl", "val.jsonl.zst", "val.jsonl"}) {
      const std::string p = path_join(d, name);
      if (file_exists(p)) return p;
    }
  throw Error::mismatch(ErrorCode::io, dirs.empty() ? "" : dirs[0], "--calib pileval",
                        "a local copy (pileval.jsonl[.zst] or val.jsonl[.zst]) in --calib-dir or $AWQX_CALIB_DIR "
                        "(awqx never downloads)",
                        dirs.empty() ? "neither is set" : "no such file");
}

std::vector<std::string> gather_calib_samples(const QuantizeOptions& opt) {
  std::vector<std::string> out;
  std::vector<std::string> files = opt.calib_files;
  if (files.empty() && opt.calib_texts.empty()) files.push_back("pileval");
  for (const auto& f : files) {
    auto s = read_calib_file(f == "pileval" ? resolve_pileval(opt.calib_dir) : f);
    out.insert(out.end(), std::make_move_iterator(s.begin()), std::make_move_iterator(s.end()));
  }
  for (const auto& t : opt.calib_texts)
    if (!strip(t).empty()) out.push_back(strip(t));
  if (out.empty()) throw Error::mismatch(ErrorCode::invalid_argument, "", "--calib-text", "a non-empty text", "none");
  return out;
}

std::vector<int32_t> make_calib_tokens(const std::vector<std::string>& samples, const Tokenizer& tok, int n_samples,
                                       int seqlen, const std::string& chat_family) {
  std::vector<int32_t> all;
  int kept = 0;
  for (const auto& raw : samples) {
    if (kept >= n_samples) break;
    std::string s = strip(raw);
    if (s.empty()) continue;
    if (!chat_family.empty()) s = apply_chat_template(chat_family, {{"user", s}}, false);
    const std::vector<int32_t> ids = tok.encode(s, true);
    if (ids.empty() || static_cast<int64_t>(ids.size()) > seqlen) continue;
    all.insert(all.end(), ids.begin(), ids.end());
    ++kept;
  }
  const int64_t n_blocks = static_cast<int64_t>(all.size()) / seqlen;
  if (n_blocks < 1)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "--calib", fmt::format("at least {} calibration tokens "
                          "(samples of <= {} tokens each)", seqlen, seqlen), fmt::format("{} from {} samples", all.size(), kept));
  all.resize(static_cast<size_t>(n_blocks * seqlen));
  return all;
}

}  // namespace awqx::quant

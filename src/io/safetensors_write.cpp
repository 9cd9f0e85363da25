// safetensors writer (atomic, in the given tensor order) and HF-style sharding.
#include <cctype>
#include <set>

#include <nlohmann/json.hpp>

#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/safetensors.hpp"

namespace awqx {

namespace {
// Checks a tensor is self-consistent before any byte of it is written.
void check_tensor(const TensorView& t, const std::string& path) {
  uint64_t n = dtype_size(t.dtype);
  bool overflow = false;
  for (int64_t d : t.shape) {
    if (d < 0) throw Error::mismatch(ErrorCode::shape, path, t.name, "non-negative dims", shape_str(t.shape));
    overflow |= __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n);
  }
  if (overflow || n != t.nbytes)
    throw Error::mismatch(ErrorCode::shape, path, t.name,
                          std::to_string(n) + " bytes for " + dtype_name(t.dtype) + " " + shape_str(t.shape),
                          std::to_string(t.nbytes) + " bytes");
  if (t.nbytes > 0 && t.data == nullptr)
    throw Error::mismatch(ErrorCode::internal, path, t.name, "tensor data", "null pointer");
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i, n);
  return buf;
}
}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps insertion order, so the header lists tensors in the order given.
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = m;
  }
  std::set<std::string> seen;
  uint64_t off = 0;
  for (const TensorView& t : tensors) {
    check_tensor(t, path);
    if (t.name == "__metadata__" || !seen.insert(t.name).second)
      throw Error::mismatch(ErrorCode::invalid_argument, path, t.name, "unique tensor names", "a duplicate");
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes}}};
    off += t.nbytes;
  }
  std::string header = h.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
  // Like the HF library: pad with spaces so the data starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xff);

  AtomicFileWriter w(path);
  w.write(len, 8);
  w.write(header.data(), header.size());
  for (const TensorView& t : tensors)
    if (t.nbytes) w.write(t.data, t.nbytes);
  w.commit();
}

std::vector<std::string> write_safetensors_sharded(const std::string& dir, const std::vector<TensorView>& tensors,
                                                   size_t shard_size_bytes) {
  if (shard_size_bytes == 0)
    throw Error::mismatch(ErrorCode::invalid_argument, dir, "--shard-size", "a positive size", "0");
  // Greedy in the given order, as transformers' shard_checkpoint: a new shard starts when the
  // next tensor would overflow the current one; a tensor bigger than the limit gets its own.
  std::vector<std::vector<TensorView>> shards(1);
  size_t cur = 0;
  uint64_t total = 0;
  for (const TensorView& t : tensors) {
    check_tensor(t, dir);
    if (!shards.back().empty() && cur + t.nbytes > shard_size_bytes) {
      shards.emplace_back();
      cur = 0;
    }
    shards.back().push_back(t);
    cur += t.nbytes;
    total += t.nbytes;
  }
  const std::string index_path = path_join(dir, "model.safetensors.index.json");
  const std::string single_path = path_join(dir, "model.safetensors");
  std::vector<std::string> written;
  if (shards.size() == 1) {
    write_safetensors(single_path, shards[0]);
    written.push_back("model.safetensors");
    // A stale index from an earlier sharded save would shadow the new file.
    if (file_exists(index_path)) {
      remove_all(index_path);
      fsync_dir(dir);
    }
    return written;
  }
  nlohmann::json wm = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i + 1, shards.size());
    write_safetensors(path_join(dir, name), shards[i]);
    written.push_back(name);
    for (const TensorView& t : shards[i]) wm[t.name] = name;
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", wm}};
  // The index goes last: until it exists the shards are not part of the model.
  write_file_atomic(index_path, index.dump(2) + "\n");
  written.push_back("model.safetensors.index.json");
  if (file_exists(single_path)) {
    remove_all(single_path);
    fsync_dir(dir);
  }
  return written;
}

size_t parse_size(const std::string& s, const std::string& flag) {
  auto bad = [&] {
    return Error::mismatch(ErrorCode::invalid_argument, "", flag, "a size like 5GB, 500MB, 2GiB or 1000000", "\"" + s + "\"");
  };
  size_t i = 0;
  uint64_t n = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    if (__builtin_mul_overflow(n, 10u, &n) || __builtin_add_overflow(n, static_cast<uint64_t>(s[i] - '0'), &n))
      throw bad();
    ++i;
  }
  if (i == 0) throw bad();
  std::string unit;
  for (; i < s.size(); ++i) unit += static_cast<char>(std::toupper(static_cast<unsigned char>(s[i])));
  // transformers' convert_file_size_to_int: KB/MB/GB are powers of 10, KiB/MiB/GiB powers of 2.
  struct U {
    const char* name;
    uint64_t mult;
  };
  static constexpr U kUnits[] = {{"", 1},          {"B", 1},
                                 {"KB", 1000ull},  {"MB", 1000000ull},
                                 {"GB", 1000000000ull}, {"TB", 1000000000000ull},
                                 {"KIB", 1ull << 10}, {"MIB", 1ull << 20},
                                 {"GIB", 1ull << 30}, {"TIB", 1ull << 40}};
  for (const U& u : kUnits) {
    if (unit != u.name) continue;
    uint64_t r;
    if (__builtin_mul_overflow(n, u.mult, &r) || r > SIZE_MAX) throw bad();
    if (r == 0) throw Error::mismatch(ErrorCode::invalid_argument, "", flag, "a positive size", "\"" + s + "\"");
    return static_cast<size_t>(r);
  }
  throw bad();
}

}  // namespace awqx

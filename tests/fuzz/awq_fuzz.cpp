// libFuzzer target: AWQ tensor-set validation, the path Model::load takes for an int4 linear:
// a safetensors file holding <p>.qweight / .qzeros / .scales (/ .bias) is parsed from memory
// and unpacked with awq_unpack_gemm / awq_unpack_gemv. The first 6 bytes choose the layout,
// the shapes, the group size and one "damage" (wrong dtype, a dim off by one, a lost dim, a
// short data span, a missing tensor); the rest fills the tensor bytes (so scales can be
// NaN/Inf, zeros anything). awqx::Error is the only allowed failure; a success must give
// weights that validate and survive pack -> unpack unchanged.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "awqx/awq_format.hpp"
#include "awqx/error.hpp"
#include "awqx/safetensors.hpp"

namespace {

struct Spec {
  std::string name, dtype;
  std::vector<int64_t> shape;
  size_t elem = 4;
};

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 6) return 0;
  const uint8_t flags = data[0], damage = data[4], where = data[5];
  const bool gemv = flags & 1, zero_point = flags & 2, with_zeros = flags & 4, with_bias = flags & 8;
  const int64_t n = 8 * (1 + data[1] % 4), k = 8 * (1 + data[2] % 32);
  static const int kGroups[] = {-1, 8, 16, 32, 64, 128, 0, 24};
  const int group = (flags >> 4) < 8 ? kGroups[(flags >> 4) % 8] : data[3] - 64;  // may be bad
  const uint8_t* fill = data + 6;
  const size_t fill_n = size - 6;

  // The shapes a correct file has, for the group size the config will claim.
  const int64_t g = group == -1 ? k : (group > 0 && k % group == 0 ? group : 8);
  std::vector<Spec> specs;
  if (!gemv) {
    specs.push_back({"l.qweight", "I32", {k, n / 8}, 4});
    if (with_zeros) specs.push_back({"l.qzeros", "I32", {k / g, n / 8}, 4});
    specs.push_back({"l.scales", "F16", {k / g, n}, 2});
  } else {
    const int64_t zw = awqx::gemv_zeros_width(k, g);
    specs.push_back({"l.qweight", "I32", {n, k / 8}, 4});
    if (with_zeros) specs.push_back({"l.qzeros", "I32", {n, zw}, 4});
    specs.push_back({"l.scales", "F16", {n, 8 * zw}, 2});
  }
  if (with_bias) specs.push_back({"l.bias", (damage & 0x40) ? "F32" : "F16", {n}, (damage & 0x40) ? 4u : 2u});

  // One damage, to one tensor; its bytes are still consistent with the declared dtype/shape
  // unless the damage is "short span".
  Spec& d = specs[where % specs.size()];
  size_t short_by = 0;
  switch (damage % 8) {
    case 0: break;  // intact
    case 1: d.dtype = (where & 0x80) ? "BF16" : "I16", d.elem = 2; break;
    case 2: d.shape[(where >> 3) % d.shape.size()] += 1; break;
    case 3: d.shape[(where >> 3) % d.shape.size()] -= 1; break;
    case 4: d.shape.pop_back(); break;
    case 5: short_by = 1 + (where >> 4); break;
    case 6: specs.erase(specs.begin() + (where % specs.size())); break;
    case 7: d.dtype = "F32", d.elem = 4; break;
  }

  nlohmann::json header = nlohmann::json::object();
  std::string body;
  size_t fi = 0;
  for (const auto& s : specs) {
    size_t nb = static_cast<size_t>(numel(s.shape)) * s.elem;
    const size_t begin = body.size();
    for (size_t i = 0; i < nb; ++i) body.push_back(fill_n ? static_cast<char>(fill[fi++ % fill_n]) : '\0');
    if (&s == &d && short_by) nb = nb > short_by ? nb - short_by : 0;
    header[s.name] = {{"dtype", s.dtype}, {"shape", s.shape}, {"data_offsets", {begin, begin + nb}}};
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  const uint64_t hl = h.size();
  std::memcpy(file.data(), &hl, 8);
  file += h;
  file += body;

  try {
    const auto st = awqx::SafetensorsFile::parse("fuzz.safetensors", file.data(), file.size());
    const awqx::TensorView qw = st->get("l.qweight"), sc = st->get("l.scales");
    awqx::TensorView qz, bias;
    const bool hz = st->has("l.qzeros"), hb = st->has("l.bias");
    if (hz) qz = st->get("l.qzeros");
    if (hb) bias = st->get("l.bias");
    auto unpack = gemv ? awqx::awq_unpack_gemv : awqx::awq_unpack_gemm;
    const awqx::Q4Weights w = unpack(qw, hz ? &qz : nullptr, sc, hb ? &bias : nullptr, group, zero_point,
                                     "fuzz.safetensors", "l");
    w.validate("fuzz.safetensors", "l");
    // A damaged dim can still form a consistent set for another layer size (qweight K+8 with
    // per-channel groups): the loader rejects that against config.json, not here.
    if (damage % 8 == 0 && (w.n != n || w.k != k)) __builtin_trap();
    // Round trip through the packer: every nibble, zero and (fp16-exact) scale comes back.
    const awqx::AwqGemmTensors t = gemv ? awqx::awq_pack_gemv(w, "l") : awqx::awq_pack_gemm(w, "l");
    const awqx::Q4Weights w2 = unpack(t.qweight, &t.qzeros, t.scales, t.bias ? &*t.bias : nullptr, group,
                                      w.zero_point, "", "l");
    if (w2.qdata != w.qdata || w2.scales != w.scales || w2.zeros != w.zeros) __builtin_trap();
  } catch (const awqx::Error&) {
  }
  return 0;
}

// int4 kernel registry: every Y[m×n] = X[m×k]·dequant(W)ᵀ + bias implementation is one plain-data
// entry {name, op, weight format, isa, priority, supported(), pack(), run()}. Entries are
// registered explicitly (each simd/<isa>/ folder exposes register_<isa>_kernels(Registry&)),
// chosen once per layer by select(), then called through a function pointer.
//
// Packed weight formats (PackedFormat; the header travels with the buffer):
//  * q4n      — Q4Weights as is (natural [n][k/2] nibbles, fp32 scales, u8 zeros). ref, onednn.
//  * q4r16x8  — shared by every SIMD kernel (avx2/avx512/avx512vnni, gemv and gemm), so a layer
//               packs once for decode and prefill. Rows are padded to n_pad = ceil(n/16)·16
//               (padding: q = 0, zero = 0, scale = 0) and split in tiles of 16 rows; k % 8 == 0.
//               q region: tile-major; tile t holds k/8 blocks of 64 bytes; in block b,
//                 byte 4·r + j (r = row in tile 0..15, j = 0..3) =
//                   q[16t+r][8b+j]  |  q[16t+r][8b+4+j] << 4
//               so the 32-bit lane r of a 64-byte block carries row r's 8 values: low nibbles
//               k 8b..8b+3, high nibbles k 8b+4..8b+7. That is exactly vpdpbusd's u8 operand
//               (4 consecutive k per int32 lane, lane = output row) after one AND / shift,
//               and an AVX2 kernel reads rows 0..7 / 8..15 as the two 32-byte halves.
//               scale region: fp32 [n_pad/16][groups][16]; zero region: u8 [n_pad/16][groups][16].
// Kernels never throw; validation lives in supported() and pack().
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "awqx/cpu.hpp"
#include "awqx/linear.hpp"

namespace awqx::kernels {

enum class Op : uint8_t { gemv, gemm, both };  // gemv: tuned for m == 1, gemm: m >= 2
const char* op_name(Op o) noexcept;

enum class PackedFormat : uint8_t { q4n = 1, q4r16x8 = 2 };
const char* format_name(PackedFormat f) noexcept;  // "q4n", "q4r16x8"

// What a kernel is asked to compute (group_size == k for per-channel).
struct Problem {
  int64_t m = 1, n = 0, k = 0;
  int group_size = 128;
  bool zero_point = true;
};

// Self-describing header stored with every packed buffer.
struct PackedHeader {
  PackedFormat format = PackedFormat::q4n;
  int bits = 4;
  int64_t n = 0, k = 0, n_pad = 0;
  int group_size = 128;
  bool zero_point = true;
  int nr = 1, kr = 2;  // rows per tile, k per block (q4n: 1, 2)
  int version = 1;
  int64_t groups() const noexcept { return k / group_size; }
};

// 64-byte aligned byte buffer.
struct AlignedFree {
  void operator()(void* p) const noexcept;
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedFree>;
AlignedBytes aligned_alloc_bytes(size_t bytes);  // zero-filled; throws std::bad_alloc
// Not touched (first-touch placement is the caller's); >= 2 MiB buffers are 2 MiB-aligned and
// advised for transparent huge pages. Usable size: bytes rounded up to 64.
AlignedBytes aligned_alloc_untouched(size_t bytes);

// Packed weights: header + format-specific storage. Immutable after pack(); share between
// the gemv and gemm kernels of a layer when their formats agree.
struct PackedQ4 {
  PackedHeader hdr;
  AlignedBytes data;          // q4r16x8: q region, then scales, then zeros (offsets below)
  size_t data_bytes = 0;
  size_t q_off = 0, s_off = 0, z_off = 0;
  Q4Weights natural;          // q4n only (bias kept in `bias`, not here)
  std::vector<float> bias;    // empty or [n]
  std::shared_ptr<void> aux;  // kernel-private cache (e.g. oneDNN primitives); may be null

  const uint8_t* q() const noexcept { return data.get() + q_off; }
  const float* scales() const noexcept { return reinterpret_cast<const float*>(data.get() + s_off); }
  const uint8_t* zeros() const noexcept { return data.get() + z_off; }
  // Weight bytes one forward reads (q + scales + zeros + bias), for bandwidth counters.
  size_t weight_bytes() const noexcept;
};

using SupportedFn = std::string (*)(const Problem&);  // "" = yes, else a short reason
using PackFn = PackedQ4 (*)(const Q4Weights&);
// y[m][n] = x[m][k]·Wᵀ + bias; x, y row-major dense. Parallelizes via parallel_for. Never throws.
using RunFn = void (*)(const PackedQ4&, const float* x, int64_t m, float* y);

// One registered kernel. Plain constant data: the simd/<isa>/ files define tables of these
// without running code built with ISA flags.
struct KernelEntry {
  const char* name;           // spec-style: gemv_f32_q4g_avx512 (also the gtest/bench label)
  Op op;
  PackedFormat format;        // format its pack() produces and its run() reads
  Isa isa;                    // ISA level the run() needs
  const char* family;         // "ref", "avx2", "avx512", "avx512vnni", "amx", "amx-bf16", "onednn"
  int priority;               // higher wins in select()
  SupportedFn supported;      // shape/config checks (ISA is checked by the registry)
  PackFn pack;
  RunFn run;
  // Automatic selection considers the entry only from this many rows on (a measured crossover:
  // below it a lower-priority kernel is faster); forcing the kernel or its family ignores it.
  int min_m = 0;
};

class Registry {
 public:
  void add(const KernelEntry* entries, size_t count);
  const std::vector<KernelEntry>& entries() const noexcept { return entries_; }
  const KernelEntry* find(const std::string& name) const noexcept;  // case-insensitive

 private:
  std::vector<KernelEntry> entries_;
};

// The process-wide registry (built on first use; thread-safe).
const Registry& registry();

// "" if `e` can run `p` on `cpu`, else why not (ISA level, shape...).
std::string why_unsupported(const KernelEntry& e, const CpuInfo& cpu, const Problem& p);

// Picks the kernel for `p`: if `force` (or, when force is empty, env AWQX_KERNEL) names an
// entry (exact name) or a family ("avx512", "ref", "onednn"...), that one (the family member
// whose op fits p.m best); Error{unsupported_hardware} if it cannot run here,
// Error{invalid_argument} if no such kernel. Otherwise the highest-priority supported entry
// whose op fits p.m (gemv for m == 1, gemm for m >= 2; `both` fits either). AWQX_VERBOSE=1
// prints the choice and every rejected entry's reason to stderr.
const KernelEntry& select(const Problem& p, const CpuInfo& cpu = cpu_info(), const std::string& force = "");

// Runs e on packed weights after checking the packed header matches e's format and p's shape;
// Error{invalid_argument} ("kernel expects q4r16x8, got q4n") otherwise.
void check_packed(const KernelEntry& e, const PackedQ4& w);

// Registration hooks, one per folder (called once by registry()).
void register_ref_kernels(Registry& r);
void register_avx2_kernels(Registry& r);
void register_avx512_kernels(Registry& r);
void register_avx512vnni_kernels(Registry& r);
void register_amx_kernels(Registry& r);
void register_onednn_kernels(Registry& r);

// Shared pack / support helpers (no ISA flags; usable by any entry).
PackedQ4 pack_q4n(const Q4Weights& w);
PackedQ4 pack_q4r16x8(const Q4Weights& w);
std::string supported_any(const Problem& p);    // any valid problem
std::string supported_q4r(const Problem& p);    // needs k % 8 == 0

}  // namespace awqx::kernels

// Runtime CPU feature probe: CPUID bits *and* XGETBV (the OS must save YMM/ZMM state, else an
// AVX-512 instruction faults even though CPUID advertises it). Filled once; printable.
// AWQX_ISA=ref|avx2|avx512|avx512vnni|amx caps the usable ISA level so every kernel path can be
// exercised on one machine.
#pragma once
#include <cstdint>
#include <string>

namespace awqx {

// ISA levels a kernel can require, in increasing order of capability.
// amx = avx512vnni + AVX512-BF16/VBMI + AMX tile/int8/bf16 with OS support for the tile state
// (detect_cpu asks for the per-process arch_prctl tile permission; refused = not amx).
enum class Isa : uint8_t { ref = 0, avx2 = 1, avx512 = 2, avx512vnni = 3, amx = 4 };

const char* isa_name(Isa i) noexcept;  // "ref", "avx2", "avx512", "avx512vnni", "amx"
// Parses an ISA name (case-insensitive); returns false if unknown.
bool parse_isa(const std::string& s, Isa& out) noexcept;

struct CpuInfo {
  std::string vendor, brand;
  // Raw feature bits (CPUID && OS support).
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false, avx512vbmi = false, avx512fp16 = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
  bool os_ymm = false, os_zmm = false, os_amx = false;
  // Why AMX is unusable although CPUID + XCR0 have it ("" otherwise): the OS refused the
  // per-process tile-state permission (asked once by detect_cpu on AMX hardware).
  std::string amx_denied;
  // Cache sizes in bytes (0 if unknown); l2 is per core, l3 total as reported.
  int64_t l1d_bytes = 0, l2_bytes = 0, l3_bytes = 0;
  int cores = 0;  // physical cores
  Isa hw_isa = Isa::ref;   // best level the hardware + OS support
  Isa isa = Isa::ref;      // usable level: min(hw_isa, AWQX_ISA cap)

  // True if kernels needing `need` may run (respects the cap).
  bool has(Isa need) const noexcept { return static_cast<int>(need) <= static_cast<int>(isa); }
  std::string to_string() const;  // multi-line human-readable summary
};

// Probes this CPU; `isa_cap` (may be null/empty = no cap) is an AWQX_ISA-style level name.
// Throws Error{invalid_argument} (field AWQX_ISA) for an unknown level name.
CpuInfo detect_cpu(const char* isa_cap);
// detect_cpu(getenv("AWQX_ISA")), computed once. Thread-safe.
const CpuInfo& cpu_info();
// Copy of `c` with its usable level lowered to at most `cap` (for tests / benchmarks).
CpuInfo with_isa_cap(CpuInfo c, Isa cap) noexcept;

}  // namespace awqx

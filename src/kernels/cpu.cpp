// CPU feature probe (see include/awqx/cpu.hpp). CPUID leaf 7 gives the AVX-512 sub-features,
// XGETBV(0) tells whether the OS saves the wider register state; both are required.
#include "awqx/cpu.hpp"

#include <cpuid.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/parallel.hpp"
#include "kernels/amx_state.hpp"

namespace awqx {
namespace {

void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) { __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]); }

uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(uint32_t v, int b) { return (v >> b) & 1u; }

}  // namespace

const char* isa_name(Isa i) noexcept {
  switch (i) {
    case Isa::ref: return "ref";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::avx512vnni: return "avx512vnni";
    case Isa::amx: return "amx";
  }
  return "?";
}

bool parse_isa(const std::string& s, Isa& out) noexcept {
  std::string l = s;
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "avx512-vnni") l = "avx512vnni";
  for (Isa i : {Isa::ref, Isa::avx2, Isa::avx512, Isa::avx512vnni, Isa::amx})
    if (l == isa_name(i)) {
      out = i;
      return true;
    }
  return false;
}

CpuInfo detect_cpu(const char* isa_cap) {
  CpuInfo c;
  uint32_t r[4];
  cpuid(0, 0, r);
  const uint32_t max_leaf = r[0];
  char vendor[13] = {};
  std::memcpy(vendor, &r[1], 4);
  std::memcpy(vendor + 4, &r[3], 4);
  std::memcpy(vendor + 8, &r[2], 4);
  c.vendor = vendor;

  bool osxsave = false;
  if (max_leaf >= 1) {
    cpuid(1, 0, r);
    c.fma = bit(r[2], 12);
    c.f16c = bit(r[2], 29);
    osxsave = bit(r[2], 27);
  }
  if (osxsave) {
    const uint64_t x = xgetbv0();
    c.os_ymm = (x & 0x6) == 0x6;          // XMM + YMM state
    c.os_zmm = (x & 0xE6) == 0xE6;        // + opmask, ZMM_Hi256, Hi16_ZMM
    c.os_amx = (x & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  }
  if (max_leaf >= 7) {
    cpuid(7, 0, r);
    c.avx2 = bit(r[1], 5) && c.os_ymm;
    c.avx512f = bit(r[1], 16) && c.os_zmm;
    c.avx512dq = bit(r[1], 17) && c.os_zmm;
    c.avx512bw = bit(r[1], 30) && c.os_zmm;
    c.avx512vl = bit(r[1], 31) && c.os_zmm;
    c.avx512vbmi = bit(r[2], 1) && c.os_zmm;
    c.avx512vnni = bit(r[2], 11) && c.os_zmm;
    c.avx512fp16 = bit(r[3], 23) && c.os_zmm;
    c.amx_bf16 = bit(r[3], 22) && c.os_amx;
    c.amx_tile = bit(r[3], 24) && c.os_amx;
    c.amx_int8 = bit(r[3], 25) && c.os_amx;
    cpuid(7, 1, r);
    c.avx512bf16 = bit(r[0], 5) && c.os_zmm;
  }
  c.fma = c.fma && c.os_ymm;
  c.f16c = c.f16c && c.os_ymm;

  cpuid(0x80000000u, 0, r);
  if (r[0] >= 0x80000004u) {
    char brand[49] = {};
    for (uint32_t i = 0; i < 3; ++i) {
      cpuid(0x80000002u + i, 0, r);
      std::memcpy(brand + 16 * i, r, 16);
    }
    std::string b = brand;
    b.erase(0, b.find_first_not_of(' '));
    b.erase(b.find_last_not_of(' ') + 1);
    c.brand = b;
  }
  // Cache sizes: sysconf reads the same CPUID leaf 4 data through glibc.
  c.l1d_bytes = std::max<long>(0, sysconf(_SC_LEVEL1_DCACHE_SIZE));
  c.l2_bytes = std::max<long>(0, sysconf(_SC_LEVEL2_CACHE_SIZE));
  c.l3_bytes = std::max<long>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
  c.cores = physical_cores();

  if (c.avx2 && c.fma && c.f16c) c.hw_isa = Isa::avx2;
  if (c.hw_isa == Isa::avx2 && c.avx512f && c.avx512bw && c.avx512vl && c.avx512dq) c.hw_isa = Isa::avx512;
  if (c.hw_isa == Isa::avx512 && c.avx512vnni) c.hw_isa = Isa::avx512vnni;
  if (c.hw_isa == Isa::avx512vnni && c.avx512bf16 && c.avx512vbmi && c.amx_tile && c.amx_int8 && c.amx_bf16) {
    c.amx_denied = kernels::amx_permission();
    if (c.amx_denied.empty()) c.hw_isa = Isa::amx;
  }
  c.isa = c.hw_isa;
  if (isa_cap && *isa_cap) {
    Isa cap;
    if (!parse_isa(isa_cap, cap))
      throw Error::mismatch(ErrorCode::invalid_argument, "", "AWQX_ISA", "one of ref|avx2|avx512|avx512vnni|amx",
                            std::string("'") + isa_cap + "'");
    c = with_isa_cap(c, cap);
  }
  return c;
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect_cpu(std::getenv("AWQX_ISA"));
  return info;
}

CpuInfo with_isa_cap(CpuInfo c, Isa cap) noexcept {
  if (static_cast<int>(cap) < static_cast<int>(c.isa)) c.isa = cap;
  return c;
}

std::string CpuInfo::to_string() const {
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  std::string s;
  s += fmt::format("cpu: {} ({}), {} physical cores\n", brand.empty() ? "unknown" : brand, vendor, cores);
  s += fmt::format("  os state: ymm={} zmm={} amx={}\n", yn(os_ymm), yn(os_zmm), yn(os_amx));
  s += fmt::format("  avx2={} fma={} f16c={}\n", yn(avx2), yn(fma), yn(f16c));
  s += fmt::format("  avx512: f={} bw={} vl={} dq={} vnni={} bf16={} vbmi={} fp16={}\n", yn(avx512f), yn(avx512bw),
                   yn(avx512vl), yn(avx512dq), yn(avx512vnni), yn(avx512bf16), yn(avx512vbmi), yn(avx512fp16));
  s += fmt::format("  amx: tile={} int8={} bf16={}{}\n", yn(amx_tile), yn(amx_int8), yn(amx_bf16),
                   amx_denied.empty() ? "" : " (unusable: " + amx_denied + ")");
  s += fmt::format("  caches: L1d {} KiB, L2 {} KiB, L3 {} MiB\n", l1d_bytes / 1024, l2_bytes / 1024,
                   l3_bytes / (1024 * 1024));
  s += fmt::format("  isa level: hardware {}, usable {}{}\n", isa_name(hw_isa), isa_name(isa),
                   isa != hw_isa ? " (capped by AWQX_ISA)" : "");
  return s;
}

}  // namespace awqx

// Kernel registry and selection (include/awqx/kernels.hpp). Entries come from explicit
// register_<isa>_kernels() calls in a function-local static; select() is called at layer
// construction (plan time), never per forward.
#include <sys/mman.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "awqx/error.hpp"
#include "awqx/kernels.hpp"

namespace awqx::kernels {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool op_fits(Op op, int64_t m) { return op == Op::both || (m <= 1 ? op == Op::gemv : op == Op::gemm); }

bool verbose() {
  const char* v = std::getenv("AWQX_VERBOSE");
  return v && *v && std::string(v) != "0";
}

}  // namespace

const char* op_name(Op o) noexcept {
  switch (o) {
    case Op::gemv: return "gemv";
    case Op::gemm: return "gemm";
    case Op::both: return "both";
  }
  return "?";
}

const char* format_name(PackedFormat f) noexcept {
  switch (f) {
    case PackedFormat::q4n: return "q4n";
    case PackedFormat::q4r16x8: return "q4r16x8";
  }
  return "?";
}

void AlignedFree::operator()(void* p) const noexcept { std::free(p); }

// Buffers of 2 MiB and more (packed weights) start on a 2 MiB boundary and ask for transparent
// huge pages before the first touch: decode streams every weight byte once per token, and with
// 4 KiB pages the TLB misses cost ~10% of GEMV bandwidth here (THP is "madvise" on Debian).
AlignedBytes aligned_alloc_untouched(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* p = nullptr;
  if (posix_memalign(&p, rounded >= kHuge ? kHuge : 64, rounded) != 0 || !p) throw std::bad_alloc();
  if (rounded >= kHuge) madvise(p, rounded, MADV_HUGEPAGE);  // advisory: ignore failure
  return AlignedBytes(static_cast<uint8_t*>(p));
}

AlignedBytes aligned_alloc_bytes(size_t bytes) {
  AlignedBytes p = aligned_alloc_untouched(bytes);
  std::memset(p.get(), 0, std::max<size_t>(64, (bytes + 63) / 64 * 64));
  return p;
}

size_t PackedQ4::weight_bytes() const noexcept {
  const size_t b = bias.size() * sizeof(float);
  if (hdr.format == PackedFormat::q4n)
    return natural.qdata.size() + natural.scales.size() * sizeof(float) + natural.zeros.size() + b;
  return data_bytes + b;
}

void Registry::add(const KernelEntry* entries, size_t count) {
  for (size_t i = 0; i < count; ++i) entries_.push_back(entries[i]);
}

const KernelEntry* Registry::find(const std::string& name) const noexcept {
  const std::string l = lower(name);
  for (const auto& e : entries_)
    if (lower(e.name) == l) return &e;
  return nullptr;
}

const Registry& registry() {
  static const Registry reg = [] {
    Registry r;
    register_ref_kernels(r);
    register_avx2_kernels(r);
    register_avx512_kernels(r);
    register_avx512vnni_kernels(r);
    register_amx_kernels(r);
    register_onednn_kernels(r);
    return r;
  }();
  return reg;
}

std::string why_unsupported(const KernelEntry& e, const CpuInfo& cpu, const Problem& p) {
  if (!cpu.has(e.isa)) {
    if (e.isa == Isa::amx && !cpu.amx_denied.empty()) return cpu.amx_denied;
    if (cpu.hw_isa >= e.isa)
      return fmt::format("needs {}, capped at {} by AWQX_ISA", isa_name(e.isa), isa_name(cpu.isa));
    return fmt::format("needs {}, this CPU has {}", isa_name(e.isa), isa_name(cpu.hw_isa));
  }
  if (p.m < 1 || p.n < 1 || p.k < 2 || p.group_size < 2 || p.k % p.group_size != 0 || p.k % 2 != 0)
    return fmt::format("invalid problem m={} n={} k={} g={}", p.m, p.n, p.k, p.group_size);
  return e.supported ? e.supported(p) : std::string();
}

const KernelEntry& select(const Problem& p, const CpuInfo& cpu, const std::string& force_arg) {
  std::string force = force_arg;
  if (force.empty()) {
    const char* env = std::getenv("AWQX_KERNEL");
    if (env) force = env;
  }
  const auto& entries = registry().entries();
  const bool verb = verbose();
  if (!force.empty()) {
    const KernelEntry* chosen = registry().find(force);
    if (!chosen) {  // a family name: the member whose op fits m, highest priority
      const std::string fam = lower(force == "avx512-vnni" ? "avx512vnni" : force);
      for (const auto& e : entries) {
        if (lower(e.family) != fam) continue;
        const bool better = !chosen || (op_fits(e.op, p.m) && !op_fits(chosen->op, p.m)) ||
                            (op_fits(e.op, p.m) == op_fits(chosen->op, p.m) && e.priority > chosen->priority);
        if (better) chosen = &e;
      }
    }
    if (!chosen) {
      std::string names;
      for (const auto& e : entries) names += std::string(names.empty() ? "" : ", ") + e.name;
      throw Error::mismatch(ErrorCode::invalid_argument, "", "backend", "a kernel name or family (" + names + ")",
                            "'" + force + "'");
    }
    const std::string why = why_unsupported(*chosen, cpu, p);
    if (!why.empty())
      throw Error(ErrorCode::unsupported_hardware, "", "backend",
                  fmt::format("kernel {} cannot run here: {}", chosen->name, why));
    if (verb) std::fprintf(stderr, "awqx: kernel for m=%lld n=%lld k=%lld g=%d: %s (forced)\n",
                           static_cast<long long>(p.m), static_cast<long long>(p.n), static_cast<long long>(p.k),
                           p.group_size, chosen->name);
    return *chosen;
  }
  const KernelEntry* best = nullptr;
  for (const auto& e : entries) {
    std::string why = !op_fits(e.op, p.m) ? fmt::format("op {} does not fit m={}", op_name(e.op), p.m)
                      : p.m < e.min_m     ? fmt::format("m={} is below its measured crossover m={}", p.m, e.min_m)
                                          : why_unsupported(e, cpu, p);
    if (why.empty()) {
      if (!best || e.priority > best->priority) best = &e;
    } else if (verb) {
      std::fprintf(stderr, "awqx:   rejected %s: %s\n", e.name, why.c_str());
    }
  }
  if (!best) {
    // The ref entries support every valid problem, so this means the problem itself is invalid.
    throw Error::mismatch(ErrorCode::invalid_argument, "", "problem", "n >= 1, k even and a multiple of group_size",
                          fmt::format("m={} n={} k={} g={}", p.m, p.n, p.k, p.group_size));
  }
  if (verb) std::fprintf(stderr, "awqx: kernel for m=%lld n=%lld k=%lld g=%d: %s (priority %d)\n",
                         static_cast<long long>(p.m), static_cast<long long>(p.n), static_cast<long long>(p.k),
                         p.group_size, best->name, best->priority);
  return *best;
}

void check_packed(const KernelEntry& e, const PackedQ4& w) {
  if (w.hdr.format != e.format)
    throw Error::mismatch(ErrorCode::invalid_argument, "", e.name, std::string("packed format ") + format_name(e.format),
                          format_name(w.hdr.format));
}

std::string supported_any(const Problem&) { return ""; }

std::string supported_q4r(const Problem& p) {
  if (p.k % 8 != 0) return fmt::format("k={} is not a multiple of 8", p.k);
  return "";
}

}  // namespace awqx::kernels

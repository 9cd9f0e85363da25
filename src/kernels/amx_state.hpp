// AMX tile state, process side (no ISA flags needed here): Linux hands out the 8 KiB tile
// register state only to processes that ask (arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA), once
// per process, before the first tile instruction; kernel >= 5.16). A refused request (old
// kernel, a hypervisor that hides the state) makes every AMX kernel unsupported with the reason,
// so select() falls through to the next kernel instead of faulting.
//
// The thread side lives with the kernels (simd/amx/amx_tiles.hpp): every thread that runs tile
// instructions loads its own tile configuration (ldtilecfg) at the start of each parallel chunk
// and releases it at the end — tile config is per-thread architectural state, and OpenMP
// workers are reused across regions with whatever config the last kernel left.
#pragma once
#include <string>

namespace awqx::kernels {

// "" when this process may use AMX tiles (permission granted now or earlier), else why not.
// Thread-safe; asks the OS at most once. Called by detect_cpu() only on CPUs whose CPUID and
// XCR0 report AMX (the request fails harmlessly elsewhere, but there is no reason to ask).
const std::string& amx_permission();

}  // namespace awqx::kernels

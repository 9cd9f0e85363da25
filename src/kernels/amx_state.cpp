// AMX tile-state permission (src/kernels/amx_state.hpp).
#include "kernels/amx_state.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>


namespace awqx::kernels {
namespace {

constexpr int kArchGetXcompPerm = 0x1022;  // from <asm/prctl.h> (not in every libc's headers)
constexpr int kArchReqXcompPerm = 0x1023;
constexpr unsigned long kXfeatureXtiledata = 18;

std::string ask() {
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0)
    return fmt::format("the OS refused AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM: {})", std::strerror(errno));
  unsigned long mask = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &mask) != 0 || !(mask & (1ul << kXfeatureXtiledata)))
    return "the OS did not grant AMX tile state (arch_prctl ARCH_GET_XCOMP_PERM)";
  return "";
}

}  // namespace

const std::string& amx_permission() {
  static const std::string why = ask();
  return why;
}

}  // namespace awqx::kernels

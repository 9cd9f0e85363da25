#include "awqx/parallel.hpp"

#include <hwloc.h>

namespace awqx {
namespace {
int g_threads = 0;
}

int physical_cores() {
  static const int cores = [] {
    hwloc_topology_t topo;
    int n = 0;
    if (hwloc_topology_init(&topo) == 0) {
      if (hwloc_topology_load(topo) == 0) n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
      hwloc_topology_destroy(topo);
    }
    if (n <= 0) n = omp_get_num_procs();
    return n > 0 ? n : 1;
  }();
  return cores;
}

void set_num_threads(int n) { g_threads = n > 0 ? n : 0; }

int num_threads() { return g_threads > 0 ? g_threads : physical_cores(); }

}  // namespace awqx

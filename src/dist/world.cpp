// MPI_COMM_WORLD behind awqx::Comm (src/dist/world.hpp).
#include "dist/world.hpp"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "awqx/error.hpp"

#ifdef AWQX_MPI
#include <mpi.h>
#endif

namespace awqx::dist {
namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : 0;
}

#ifdef AWQX_MPI
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw Error(ErrorCode::internal, "", what, "MPI call failed");
}

class MpiComm final : public Comm {
 public:
  MpiComm() {
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::vector<uint8_t> allgather(const void* data, size_t bytes) override {
    if (bytes > static_cast<size_t>(INT_MAX)) throw Error(ErrorCode::internal, "", "allgather", "over 2 GiB per rank");
    const int mine = static_cast<int>(bytes);
    std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    check(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    size_t total = 0;
    for (int r = 0; r < size_; ++r) {
      if (total > static_cast<size_t>(INT_MAX)) throw Error(ErrorCode::internal, "", "allgather", "over 2 GiB in all");
      displs[static_cast<size_t>(r)] = static_cast<int>(total);
      total += static_cast<size_t>(counts[static_cast<size_t>(r)]);
    }
    std::vector<uint8_t> out(total);
    check(MPI_Allgatherv(data, mine, MPI_BYTE, out.data(), counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    return out;
  }
  void broadcast(std::vector<uint8_t>& data, int root) override {
    unsigned long long n = data.size();
    check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Bcast");
    if (n > static_cast<unsigned long long>(INT_MAX)) throw Error(ErrorCode::internal, "", "broadcast", "over 2 GiB");
    data.resize(static_cast<size_t>(n));
    check(MPI_Bcast(data.data(), static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }

 private:
  int rank_ = 0, size_ = 1;
};

bool g_started = false;
#endif

}  // namespace

bool mpi_built() {
#ifdef AWQX_MPI
  return true;
#else
  return false;
#endif
}

int launcher_world_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (int n = env_int(v); n > 0) return n;
  return 1;
}

int launcher_local_size() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (int n = env_int(v); n > 0) return n;
  return 1;
}

Comm& init_world(int* argc, char*** argv) {
#ifdef AWQX_MPI
  if (launcher_world_size() > 1 || std::getenv("OMPI_COMM_WORLD_RANK")) {
    int provided = 0;
    // FUNNELED: only the main thread calls MPI; OpenMP threads compute between the calls.
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    g_started = true;
    static MpiComm world;
    return world;
  }
#else
  (void)argc;
  (void)argv;
#endif
  return local_comm();
}

void finalize_world() {
#ifdef AWQX_MPI
  if (g_started) MPI_Finalize();
  g_started = false;
#endif
}

void abort_world(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
#ifdef AWQX_MPI
  if (g_started) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

}  // namespace awqx::dist

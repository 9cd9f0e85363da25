// The CLI's process group: MPI_COMM_WORLD when built with AWQX_MPI and started by mpirun,
// else the one-process group. Compiled into the awqx executable only (libawqx has no MPI).
#pragma once
#include "awqx/comm.hpp"

namespace awqx::dist {

bool mpi_built();
// Ranks in the job / on this node as the launcher (mpirun, srun) announces them in the
// environment; 1 when not started by one. Readable before (and without) MPI.
int launcher_world_size();
int launcher_local_size();
// Starts MPI when built with it and started by a launcher; returns the world group.
Comm& init_world(int* argc, char*** argv);
// Clean end of an MPI job (no-op otherwise).
void finalize_world();
// Ends every rank of the job with `code` (a failed rank must not leave the others waiting in a
// collective); plain exit without MPI.
[[noreturn]] void abort_world(int code);

}  // namespace awqx::dist

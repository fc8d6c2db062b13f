#pragma once
/// \file
/// Data-parallel training over MPI: every process (rank) holds the whole model, trains on its own
/// shard of each batch, and the gradients are averaged across ranks after backward, so all ranks
/// take the same optimizer step and keep the same weights.
///
///     int main(int argc, char** argv) {
///       tg::dist::Session mpi(argc, argv);       // MPI_Init ... MPI_Finalize
///       ...
///       fit(model, x, y, {.batch_size = 16, .optimizer = &adam, .process_group = &tg::dist::world()});
///     }
///
///     mpirun -np 2 ./train                     # global batch 2 x 16 = 32
///
/// This is the optional target tapegrad::dist (`find_package(tapegrad COMPONENTS dist)`, or
/// tapegrad-dist.pc), built when CMake finds MPI (option TAPEGRAD_MPI); the plain library knows
/// nothing of MPI. Started without an MPI launcher, a program is rank 0 of a world of one and
/// never touches MPI. See docs/distributed.md.

#include <tapegrad/core/config.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/training/process_group.h>

namespace tg::dist {

/// A failed MPI call (another rank died, the network went away): names the call and gives MPI's
/// own description of the error.
class DistError : public Error {
 public:
  using Error::Error;
};

/// True when an MPI launcher started this process (mpirun, mpiexec or srun: its environment
/// holds OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK).
bool launched();

/// True between the construction and the destruction of a Session (or when the program
/// initialised MPI itself).
bool initialized();

/// This process's rank in MPI_COMM_WORLD (0 before a Session).
int rank();
/// The number of processes in MPI_COMM_WORLD (1 before a Session).
int world_size();

/// Initialises MPI for the life of the object (MPI_Init ... MPI_Finalize) when the program was
/// started by an MPI launcher (see launched()), and sets MPI_ERRORS_RETURN on MPI_COMM_WORLD, so
/// failed calls throw DistError instead of aborting. Started without a launcher, the program
/// stays one plain process and MPI is not touched (no singleton start-up, no MPI state). If MPI
/// is already initialised, it neither initialises nor finalises it. When the Session is
/// destroyed by an exception unwinding the stack, it calls MPI_Abort instead of MPI_Finalize:
/// the other ranks may be waiting in a collective, and finalising would hang them. One Session
/// per program.
class Session {
 public:
  /// As Session(argc, argv), but MPI_Init gets no command line (nullptr, nullptr).
  Session();
  /// Passes main's arguments to MPI_Init, which may remove its own from them. DistError when
  /// MPI_Init fails.
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  void start(int* argc, char*** argv);
  bool owns_ = false;
  int uncaught_ = 0;
};

/// Ends every rank of the job at once with exit status `code` (MPI_Abort), for an error that
/// only this rank saw: the others may be waiting in a collective. Before a Session, exits.
[[noreturn]] void abort(int code);

/// Copies each tensor's elements on rank `root` into the same tensor on every other rank
/// (MPI_Bcast; shapes and dtypes must agree across ranks). Used once before training, so all
/// ranks start from rank 0's initial weights.
void broadcast(const std::vector<Tensor>& tensors, int root = 0);

/// Sums `values` element-wise across ranks, in place (MPI_Allreduce in float64).
void all_reduce_sum(std::span<double> values);

/// Waits for every rank (MPI_Barrier).
void barrier();

/// MPI_COMM_WORLD as the group a data-parallel fit runs on (FitOptions::process_group): rank(),
/// world_size() and the collectives above. ValueError when the program was started by an MPI
/// launcher but MPI is not initialised (create a Session first): each rank would train alone.
ProcessGroup& world();

}  // namespace tg::dist

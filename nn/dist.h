#pragma once
/// \file
/// Data-parallel training over MPI: every process (rank) holds the whole model, trains on its own
/// shard of each batch, and the gradients are averaged across ranks after backward, so all ranks
/// take the same optimizer step and keep the same weights.
///
///     int main(int argc, char** argv) {
///       tg::dist::Session mpi(argc, argv);       // MPI_Init ... MPI_Finalize
///       ...
///       fit(model, x, y, {.batch_size = 16, .optimizer = &adam, .distributed = true});
///     }
///
///     mpirun -np 2 ./train                     # global batch 2 x 16 = 32
///
/// Built with MPI when CMake finds it (option TAPEGRAD_MPI). Without MPI everything here still
/// exists and behaves as one process: rank 0 of a world of size 1, collectives that copy.
/// See docs/distributed.md.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace tg::dist {

/// A failed MPI call (another rank died, the network went away): names the call and gives MPI's
/// own description of the error.
class DistError : public Error {
 public:
  using Error::Error;
};

/// True when tapegrad was built with MPI (TAPEGRAD_MPI).
bool available();

/// True when an MPI launcher started this process (mpirun, mpiexec or srun: its environment
/// holds OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK).
bool launched();

/// True between the construction and the destruction of a Session (or when the program
/// initialised MPI itself); always false without MPI.
bool initialized();

/// This process's rank in MPI_COMM_WORLD (0 without MPI or before a Session).
int rank();
/// The number of processes in MPI_COMM_WORLD (1 without MPI or before a Session).
int world_size();

/// Initialises MPI for the life of the object (MPI_Init ... MPI_Finalize) when the program was
/// started by an MPI launcher (see launched()), and sets MPI_ERRORS_RETURN on MPI_COMM_WORLD, so
/// failed calls throw DistError instead of aborting. Started without a launcher, the program
/// stays one plain process and MPI is not touched (no singleton start-up, no MPI state). If MPI
/// is already initialised, it neither initialises nor finalises it. When the Session is
/// destroyed by an exception unwinding the stack, it calls MPI_Abort instead of MPI_Finalize:
/// the other ranks may be waiting in a collective, and finalising would hang them. One Session
/// per program; a no-op without MPI.
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
/// only this rank saw: the others may be waiting in a collective. Without MPI, exits.
[[noreturn]] void abort(int code);

/// Copies each tensor's elements on rank `root` into the same tensor on every other rank
/// (MPI_Bcast; shapes and dtypes must agree across ranks). Used once before training, so all
/// ranks start from rank 0's initial weights.
void broadcast(const std::vector<Tensor>& tensors, int root = 0);

/// Sums `values` element-wise across ranks, in place (MPI_Allreduce in float64).
void all_reduce_sum(std::span<double> values);

/// Waits for every rank (MPI_Barrier).
void barrier();

/// Sums the parameters' gradients across ranks after backward, each rank's gradient scaled by
/// its own `weight` first: with weight 1/world_size the result is the mean, with weight
/// rows/global_rows the gradient of the mean loss over the global batch. Gradients are packed
/// into contiguous buckets of at most `bucket_bytes` per dtype (float32 and float64), so a step
/// makes a few large MPI_Allreduce calls rather than one per tensor; the buffers are kept, so a
/// warm step allocates nothing. A gradient that is undefined on a rank counts as zero there; it
/// stays undefined only if it is undefined on every rank.
class GradientReducer {
 public:
  /// Default bucket size: 4 MiB.
  static constexpr std::size_t kDefaultBucketBytes = std::size_t{4} << 20;

  /// Reduces the gradients of `parameters` (float32 or float64) in buckets of at most
  /// `bucket_bytes` bytes. ValueError when a parameter is undefined or bucket_bytes is less than
  /// the size of a double (8).
  explicit GradientReducer(std::vector<Tensor> parameters, std::size_t bucket_bytes = kDefaultBucketBytes);

  /// Reduces the gradients (see the class), and sums `stats` across ranks in the same step
  /// (losses and metrics times sample counts, for instance).
  void all_reduce(double weight, std::span<double> stats = {});

  /// MPI_Allreduce calls made by the last all_reduce (gradient buckets plus one for the stats and
  /// the defined-gradient counts).
  int last_calls() const { return last_calls_; }
  /// Elements per bucket for float32 and float64.
  std::size_t bucket_elements(DType dtype) const;

 private:
  template <class T>
  void reduce_dtype(DType dtype, std::vector<T>& buffer, double weight);

  std::vector<Tensor> params_;
  std::size_t bucket_bytes_;
  std::vector<float> buffer32_;
  std::vector<double> buffer64_;
  std::vector<double> stats_;  // the caller's stats, then one defined-gradient count per parameter
  int last_calls_ = 0;
};

}  // namespace tg::dist

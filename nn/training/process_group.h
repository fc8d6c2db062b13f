#pragma once
/// \file
/// The processes a data-parallel fit runs on, as fit sees them: a rank, a size and two
/// collectives. fit with no group (FitOptions::process_group null) trains alone; the optional
/// tapegrad::dist target (nn/dist/dist.h) gives the MPI world as a ProcessGroup. A user can give
/// another transport by implementing the four functions.
///
/// GradientReducer is the gradient-sync step of a data-parallel step, written once on top of a
/// group: it packs the gradients into a few large buffers and sums them across the group.

#include <tapegrad/core/config.h>

#include <cstddef>
#include <span>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

/// A group of processes that train one model together, each on its share of every batch.
class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  /// This process's rank, in [0, size()).
  virtual int rank() const = 0;
  /// The number of processes.
  virtual int size() const = 0;
  /// Sums `values` element-wise across the group, in place.
  /// @{
  virtual void all_reduce_sum(std::span<double> values) = 0;
  virtual void all_reduce_sum(std::span<float> values) = 0;
  /// @}
  /// Copies each tensor's elements on rank `root` into the same tensor on every other rank
  /// (shapes and dtypes must agree across ranks).
  virtual void broadcast(const std::vector<Tensor>& tensors, int root) = 0;
};

/// Sums the parameters' gradients across a group after backward, each rank's gradient scaled by
/// its own `weight` first: with weight 1/size the result is the mean, with weight
/// rows/global_rows the gradient of the mean loss over the global batch. Gradients are packed
/// into contiguous buckets of at most `bucket_bytes` per dtype (float32 and float64), so a step
/// makes a few large reductions rather than one per tensor; the buffers are kept, so a warm step
/// allocates nothing. A gradient that is undefined on a rank counts as zero there; it stays
/// undefined only if it is undefined on every rank.
class GradientReducer {
 public:
  /// Default bucket size: 4 MiB.
  static constexpr std::size_t kDefaultBucketBytes = std::size_t{4} << 20;

  /// Reduces the gradients of `parameters` (float32 or float64) across `group` (not owned) in
  /// buckets of at most `bucket_bytes` bytes. ValueError when a parameter is undefined or
  /// bucket_bytes is less than the size of a double (8).
  GradientReducer(ProcessGroup& group, std::vector<Tensor> parameters, std::size_t bucket_bytes = kDefaultBucketBytes);

  /// Reduces the gradients (see the class), and sums `stats` across ranks in the same step
  /// (losses and metrics times sample counts, for instance).
  void all_reduce(double weight, std::span<double> stats = {});

  /// Reductions made by the last all_reduce (gradient buckets plus one for the stats and the
  /// defined-gradient counts).
  int last_calls() const { return last_calls_; }
  /// Elements per bucket for float32 and float64.
  std::size_t bucket_elements(DType dtype) const;

 private:
  template <class T>
  void reduce_dtype(DType dtype, std::vector<T>& buffer, double weight);

  ProcessGroup& group_;
  std::vector<Tensor> params_;
  std::size_t bucket_bytes_;
  std::vector<float> buffer32_;
  std::vector<double> buffer64_;
  std::vector<double> stats_;  // the caller's stats, then one defined-gradient count per parameter
  int last_calls_ = 0;
};

}  // namespace tg

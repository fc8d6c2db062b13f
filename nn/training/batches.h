#pragma once
/// \file
/// Where fit's samples come from and which of them each step trains on.
///
/// A BatchSource hands out samples by index: `load(rows)` returns the batch made of those rows.
/// TensorBatches is the source of whole tensors (fit(model, x, y, options) uses it); a dataset of
/// windows or files implements the same two functions and trains with fit(model, source, options).
///
/// A BatchPlan cuts an epoch into steps: it shuffles the sample order (or not), cuts it into
/// batches of batch_size x world rows and gives each rank its contiguous share of each batch,
/// rows [count * r / W, count * (r + 1) / W) of a batch of `count` rows (alone: all of them).

#include <tapegrad/core/config.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include <tapegrad/core/random.h>
#include <tapegrad/core/tensor.h>

namespace tg {

/// A batch: inputs, targets and, when given, a weight per row.
struct Batch {
  /// [rows, ...]
  Tensor x;
  /// [rows, ...]
  Tensor y;
  /// [rows] or undefined (every row weighs 1).
  Tensor sample_weight;
};

/// A source of training samples addressed by index.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  /// The number of samples (> 0).
  virtual std::int64_t size() const = 0;
  /// The samples `rows` (indices in [0, size()), at least one) as one batch, in that order. The
  /// tensors may be buffers that the next call reuses.
  virtual Batch load(std::span<const std::int64_t> rows) = 0;
};

/// Rows of one tensor copied into batch tensors kept for each batch size seen, so that an epoch
/// allocates nothing once warm.
class RowGather {
 public:
  /// Gathers rows of `data` [N, ...].
  explicit RowGather(const Tensor& data);
  /// The rows `rows` of the data, in that order, in a buffer kept for rows.size().
  const Tensor& load(std::span<const std::int64_t> rows);

 private:
  Tensor data_;
  std::size_t row_bytes_;
  std::deque<Tensor> buffers_;  // one per batch size
};

/// The samples of whole tensors: x [N, ...], y [N, ...] and optionally sample_weight [N].
/// ShapeError when their numbers of samples differ.
class TensorBatches : public BatchSource {
 public:
  /// Serves x, y and sample_weight (undefined: none).
  TensorBatches(Tensor x, Tensor y, Tensor sample_weight = Tensor());
  std::int64_t size() const override { return x_.size(0); }
  Batch load(std::span<const std::int64_t> rows) override;

 private:
  Tensor x_, y_, w_;
  RowGather xs_, ys_;
  std::optional<RowGather> ws_;
};

/// The rows each step of an epoch trains on, for one rank (see the file).
class BatchPlan {
 public:
  /// A plan over `samples` samples in batches of `batch_size` rows per rank, for rank `rank` of
  /// `world`. ValueError for samples < 1, batch_size < 1 or a rank outside [0, world).
  BatchPlan(std::int64_t samples, std::int64_t batch_size, int rank = 0, int world = 1);
  /// Shuffles the order of the samples (Fisher-Yates, from the last position down).
  void shuffle(Generator& gen);
  /// Steps per epoch.
  std::int64_t steps() const { return steps_; }
  /// Rows of step `step` over all ranks.
  std::int64_t count(std::int64_t step) const;
  /// This rank's rows of step `step` (possibly none).
  std::span<const std::int64_t> rows(std::int64_t step) const;
  /// The current order of the samples. Each shuffle permutes the previous order, so the order
  /// is part of a training's state (checkpoints keep it).
  std::span<const std::int64_t> order() const { return order_; }
  /// Puts back an order from order(). ValueError unless it is a permutation of the samples
  /// (nothing changed then).
  void set_order(std::span<const std::int64_t> order);

 private:
  std::int64_t samples_, global_batch_, steps_;
  int rank_, world_;
  std::vector<std::int64_t> order_;
};

}  // namespace tg

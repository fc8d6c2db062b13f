#pragma once
/// \file
/// Windows cut from a series as Keras' `timeseries_dataset_from_array` cuts them, kept as views:
/// a WindowSet holds the series [L, F] and computes where each window is; the values of a batch are
/// copied when it is gathered, into tensors that are reused. Memory stays that of the series and
/// of one batch, whatever the number of windows (10^7 points in windows of 50 would make a 2 GB
/// tensor of inputs if materialised; as a WindowSet they take the series' 40 MB).
///
/// Window n starts at s = begin + n * stride and takes the T time steps
/// s, s + r, ..., s + (T - 1) * r of every input column (r is the sampling rate). Its targets are
/// the next H values of the target column at the same spacing, y[n, k - 1] = series[l + k * r]
/// with l = s + (T - 1) * r the last input step (k = 1..H): with sampling rate r a window sees the
/// series downsampled by r and forecasts the next H values of that downsampled series. With
/// sequence targets, every input step t gets its own next H values:
/// y[n, t, k - 1] = series[s + t * r + k * r] (the notebook's seq2seq_data when r = 1).
/// Windows go as far as their last target stays before `end`; a window needs
/// (T - 1 + H) * r + 1 steps of the series (its span).

#include <tapegrad/core/config.h>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

/// A range of time steps [begin, end) of a series.
struct TimeRange {
  std::int64_t begin = 0;  ///< first step
  std::int64_t end = 0;    ///< one past the last step

  /// end - begin.
  std::int64_t size() const { return end - begin; }
  /// Same bounds.
  bool operator==(const TimeRange&) const = default;
};

/// How windows are cut (see the file's documentation).
struct WindowOptions {
  std::int64_t length = 1;         ///< T: input time steps per window (Keras' sequence_length)
  std::int64_t horizon = 1;        ///< H: target values per window (or per step, with sequence targets)
  std::int64_t stride = 1;         ///< steps between the starts of consecutive windows (sequence_stride)
  std::int64_t sampling_rate = 1;  ///< r: steps between consecutive time steps of a window
  std::int64_t target_column = 0;  ///< the column of the series the targets come from
  /// The columns of the series the inputs take, in that order; empty: every column.
  std::vector<std::int64_t> input_columns = {};
  /// Targets [N, T, H] (the next H values at every input step) instead of [N, H].
  bool sequence_targets = false;

  /// Steps of the series one window touches: (T - 1 + H) * r + 1.
  std::int64_t span() const { return (length - 1 + horizon) * sampling_rate + 1; }
  /// Offset of a window's first target from its start: T * r, or r with sequence targets.
  std::int64_t first_target_offset() const { return (sequence_targets ? 1 : length) * sampling_rate; }
};

/// Which windows belong to a part of the series (a split or a backtest fold).
enum class WindowContext {
  /// Every step a window touches, inputs and targets, lies in the part.
  inside,
  /// Every target lies in the part; the inputs may reach back before it (they are observed before
  /// the forecast is made, so nothing of the future leaks into a window).
  past,
};

/// Windows of a series, as views (see the file's documentation).
class WindowSet {
 public:
  /// An empty set.
  WindowSet() = default;
  /// The windows of `series` ([L, F] or [L], float32 or float64) that lie in `range` (default: the
  /// whole series). ValueError for sizes below 1, columns outside [0, F), a range outside the
  /// series, or a range shorter than one window's span (the message gives both).
  WindowSet(Tensor series, WindowOptions options, TimeRange range = {0, -1});

  /// The windows whose targets lie in `part`, their inputs inside it too or reaching back before
  /// it (`context`). ValueError when no window fits.
  static WindowSet for_targets_in(Tensor series, WindowOptions options, TimeRange part,
                                  WindowContext context = WindowContext::past);

  /// Number of windows N.
  std::int64_t size() const { return count_; }
  /// The options.
  const WindowOptions& options() const { return options_; }
  /// The series, [L, F].
  const Tensor& series() const { return series_; }
  /// Input features per step.
  std::int64_t features() const { return static_cast<std::int64_t>(inputs_.size()); }

  /// First step of window n.
  std::int64_t start(std::int64_t n) const;
  /// Step of window n's first target (for [N, H] targets: the step right after its last input,
  /// at the sampling rate): the forecast's origin.
  std::int64_t first_target(std::int64_t n) const { return start(n) + options_.first_target_offset(); }
  /// Steps of the series the windows touch: [start(0), start(N - 1) + span).
  TimeRange extent() const;

  /// Shape of the inputs of `n` windows: [n, T, F].
  Shape input_shape(std::int64_t n) const;
  /// Shape of the targets of `n` windows: [n, H] or [n, T, H].
  Shape target_shape(std::int64_t n) const;

  /// Copies the windows `rows` (in [0, N), in that order, repeats allowed) into x [n, T, F] and
  /// y [n, H] or [n, T, H], of the series' dtype. x and y are reused when they already have that
  /// shape and dtype (and are replaced by new tensors otherwise), so a loop over batches of one
  /// size allocates nothing once warm. ValueError for a row outside [0, N).
  void gather(std::span<const std::int64_t> rows, Tensor& x, Tensor& y) const;
  /// The windows `rows` as new tensors (x, y).
  std::pair<Tensor, Tensor> gather(std::span<const std::int64_t> rows) const;
  /// Every window at once, (x [N, T, F], y): for small series, tests and plots.
  std::pair<Tensor, Tensor> materialise() const;

 private:
  Tensor series_;
  WindowOptions options_;
  std::vector<std::int64_t> inputs_;
  std::int64_t begin_ = 0, count_ = 0;
};

}  // namespace tg

#pragma once
/// \file
/// Windows of a series (data/windows.h) as a BatchSource: fit, evaluate and predict train and run
/// on them directly, and each batch is gathered from the series when it is used, into tensors kept
/// for each batch size. Memory is that of the series and of one batch, whatever the number of
/// windows; an epoch allocates nothing once warm.
///
///     tg::WindowSet train(series, {.length = 50, .horizon = 1}, {0, 7000});
///     tg::WindowBatches batches(train);
///     tg::History h = tg::fit(model, batches, {.epochs = 20, .optimizer = &adam});
///     tg::Tensor forecast = tg::predict(model, batches, 256);
///
/// The batches hold the same values as the rows of WindowSet::materialise(), so a fit from
/// WindowBatches equals, bit for bit, the fit on the materialised tensors with the same seed.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <deque>
#include <span>

#include <tapegrad/core/tensor.h>
#include <tapegrad/data/windows.h>
#include <tapegrad/nn/training/batches.h>

namespace tg {

/// The windows of a WindowSet served as batches (see the file).
class WindowBatches : public BatchSource {
 public:
  /// Serves the windows of `windows`. ValueError when it holds none.
  explicit WindowBatches(WindowSet windows);
  /// The number of windows.
  std::int64_t size() const override { return windows_.size(); }
  /// The windows `rows` as x [n, T, F] and y [n, H] (or [n, T, H]), in buffers kept for n rows and
  /// overwritten by the next load of as many rows. ValueError for a row outside [0, size()).
  Batch load(std::span<const std::int64_t> rows) override;
  /// The windows served.
  const WindowSet& windows() const { return windows_; }

 private:
  struct Buffers {
    Tensor x, y;
  };
  WindowSet windows_;
  std::deque<Buffers> buffers_;  // one pair per batch size
};

}  // namespace tg

#include <tapegrad/nn/training/window_batches.h>

#include <utility>

#include <tapegrad/core/error.h>

namespace tg {

WindowBatches::WindowBatches(WindowSet windows) : windows_(std::move(windows)) {
  if (windows_.size() < 1) throw ValueError("WindowBatches: the window set holds no windows");
}

Batch WindowBatches::load(std::span<const std::int64_t> rows) {
  const auto count = static_cast<std::int64_t>(rows.size());
  Buffers* buffers = nullptr;
  for (Buffers& b : buffers_)
    if (b.x.size(0) == count) buffers = &b;
  if (!buffers) {
    Buffers fresh;
    windows_.gather(rows, fresh.x, fresh.y);
    return {buffers_.emplace_back(std::move(fresh)).x, buffers_.back().y, Tensor()};
  }
  windows_.gather(rows, buffers->x, buffers->y);
  return {buffers->x, buffers->y, Tensor()};
}

}  // namespace tg

#include <tapegrad/nn/training/batches.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include <tapegrad/ops/kernels/rows.h>

namespace tg {

RowGather::RowGather(const Tensor& data) : data_(data), row_bytes_(0) {
  if (!data.defined() || data.rank() == 0 || data.size(0) == 0)
    throw ValueError("RowGather: the data must be a tensor [samples, ...] with at least one sample");
  row_bytes_ = static_cast<std::size_t>(data.numel() / data.size(0)) * dtype_size(data.dtype());
}

const Tensor& RowGather::load(std::span<const std::int64_t> rows) {
  const auto count = static_cast<std::int64_t>(rows.size());
  Tensor* buffer = nullptr;
  for (Tensor& t : buffers_)
    if (t.size(0) == count) buffer = &t;
  if (!buffer) {
    Shape shape = data_.shape();
    shape[0] = count;
    buffer = &buffers_.emplace_back(Tensor::empty(shape, data_.dtype()));
  }
  const auto* src = static_cast<const unsigned char*>(data_.raw_data());
  auto* dst = static_cast<unsigned char*>(buffer->raw_data());
  bool consecutive = true;
  for (std::size_t i = 1; i < rows.size() && consecutive; ++i)
    consecutive = rows[i] == rows[0] + static_cast<std::int64_t>(i);
  if (consecutive)
    std::memcpy(dst, src + static_cast<std::size_t>(rows[0]) * row_bytes_,
                static_cast<std::size_t>(count) * row_bytes_);
  else
    kernels::gather_rows(src, row_bytes_, rows.data(), count, dst);
  return *buffer;
}

TensorBatches::TensorBatches(Tensor x, Tensor y, Tensor sample_weight)
    : x_(std::move(x)), y_(std::move(y)), w_(std::move(sample_weight)), xs_(x_), ys_(y_) {
  if (x_.size(0) != y_.size(0))
    throw ShapeError(
        fmt::format("TensorBatches: x {} and y {} have different numbers of samples", x_.shape(), y_.shape()));
  if (w_.defined()) {
    if (w_.numel() != x_.size(0))
      throw ShapeError(
          fmt::format("TensorBatches: {} sample weights {} for {} samples", w_.numel(), w_.shape(), x_.size(0)));
    ws_.emplace(w_);
  }
}

Batch TensorBatches::load(std::span<const std::int64_t> rows) {
  return {xs_.load(rows), ys_.load(rows), ws_ ? ws_->load(rows) : Tensor()};
}

BatchPlan::BatchPlan(std::int64_t samples, std::int64_t batch_size, int rank, int world)
    : samples_(samples), global_batch_(batch_size * world), rank_(rank), world_(world) {
  if (samples < 1) throw ValueError(fmt::format("BatchPlan: {} samples, expected at least 1", samples));
  if (batch_size < 1) throw ValueError(fmt::format("BatchPlan: batch_size must be >= 1, got {}", batch_size));
  if (world < 1 || rank < 0 || rank >= world)
    throw ValueError(fmt::format("BatchPlan: rank {} of a world of {}", rank, world));
  steps_ = (samples + global_batch_ - 1) / global_batch_;
  order_.resize(static_cast<std::size_t>(samples));
  std::iota(order_.begin(), order_.end(), std::int64_t{0});
}

void BatchPlan::shuffle(Generator& gen) {
  for (std::int64_t i = samples_ - 1; i > 0; --i)
    std::swap(order_[static_cast<std::size_t>(i)], order_[gen.below(static_cast<std::uint64_t>(i + 1))]);
}

void BatchPlan::set_order(std::span<const std::int64_t> order) {
  if (static_cast<std::int64_t>(order.size()) != samples_)
    throw ValueError(
        fmt::format("BatchPlan::set_order: an order of {} samples for a plan of {}", order.size(), samples_));
  std::vector<unsigned char> seen(order.size(), 0);
  for (std::int64_t i : order) {
    if (i < 0 || i >= samples_ || seen[static_cast<std::size_t>(i)])
      throw ValueError(
          fmt::format("BatchPlan::set_order: not a permutation of 0..{} (sample {} is out of range or "
                      "repeated)",
                      samples_ - 1, i));
    seen[static_cast<std::size_t>(i)] = 1;
  }
  order_.assign(order.begin(), order.end());
}

std::int64_t BatchPlan::count(std::int64_t step) const {
  return std::min(global_batch_, samples_ - step * global_batch_);
}

std::span<const std::int64_t> BatchPlan::rows(std::int64_t step) const {
  const std::int64_t start = step * global_batch_, n = count(step);
  const std::int64_t lo = start + n * rank_ / world_, hi = start + n * (rank_ + 1) / world_;
  return std::span<const std::int64_t>(order_).subspan(static_cast<std::size_t>(lo), static_cast<std::size_t>(hi - lo));
}

}  // namespace tg

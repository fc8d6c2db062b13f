#include <tapegrad/nn/training/process_group.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tg {

GradientReducer::GradientReducer(ProcessGroup& group, std::vector<Tensor> parameters, std::size_t bucket_bytes)
    : group_(group), params_(std::move(parameters)), bucket_bytes_(bucket_bytes) {
  if (bucket_bytes_ < sizeof(double))
    throw ValueError(fmt::format("GradientReducer: bucket_bytes must be >= {}, got {}", sizeof(double), bucket_bytes));
  std::size_t n32 = 0, n64 = 0;
  for (const Tensor& p : params_) {
    if (!p.defined()) throw ValueError("GradientReducer: a parameter is an undefined tensor");
    (p.dtype() == DType::f64 ? n64 : n32) += static_cast<std::size_t>(p.numel());
  }
  buffer32_.resize(std::min(n32, bucket_elements(DType::f32)));
  buffer64_.resize(std::min(n64, bucket_elements(DType::f64)));
  stats_.reserve(params_.size() + 16);
}

std::size_t GradientReducer::bucket_elements(DType dtype) const { return bucket_bytes_ / dtype_size(dtype); }

template <class T>
void GradientReducer::reduce_dtype(DType dtype, std::vector<T>& buffer, double weight) {
  const std::size_t cap = buffer.size();
  if (cap == 0) return;
  const T w = static_cast<T>(weight);
  std::size_t total = 0;
  for (const Tensor& p : params_)
    if (p.dtype() == dtype) total += static_cast<std::size_t>(p.numel());
  // Bucket b holds the elements [b * cap, (b + 1) * cap) of this dtype's gradients laid end to end.
  for (std::size_t begin = 0; begin < total; begin += cap) {
    const std::size_t end = std::min(total, begin + cap);
    std::size_t offset = 0;
    for (const Tensor& p : params_) {
      if (p.dtype() != dtype) continue;
      const auto n = static_cast<std::size_t>(p.numel());
      const std::size_t lo = std::max(begin, offset), hi = std::min(end, offset + n);
      if (lo < hi) {
        T* dst = buffer.data() + (lo - begin);
        const Tensor g = p.grad();
        if (g.defined()) {
          const T* src = g.data<T>() + (lo - offset);
          for (std::size_t i = 0; i < hi - lo; ++i) dst[i] = src[i] * w;
        } else {
          std::fill(dst, dst + (hi - lo), T(0));
        }
      }
      offset += n;
    }
    group_.all_reduce_sum(std::span<T>(buffer.data(), end - begin));
    ++last_calls_;
    offset = 0;
    for (const Tensor& p : params_) {
      if (p.dtype() != dtype) continue;
      const auto n = static_cast<std::size_t>(p.numel());
      const std::size_t lo = std::max(begin, offset), hi = std::min(end, offset + n);
      Tensor g = p.grad();
      if (lo < hi && g.defined())
        std::memcpy(g.data<T>() + (lo - offset), buffer.data() + (lo - begin), (hi - lo) * sizeof(T));
      offset += n;
    }
  }
}

void GradientReducer::all_reduce(double weight, std::span<double> stats) {
  last_calls_ = 0;
  // One small reduction first: the caller's stats and, per parameter, how many ranks have a
  // gradient, so a gradient missing here but present elsewhere is created before packing.
  stats_.assign(stats.begin(), stats.end());
  for (const Tensor& p : params_) stats_.push_back(p.grad().defined() ? 1.0 : 0.0);
  group_.all_reduce_sum(std::span<double>(stats_));
  ++last_calls_;
  std::copy(stats_.begin(), stats_.begin() + static_cast<std::ptrdiff_t>(stats.size()), stats.begin());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (stats_[stats.size() + i] > 0 && !p.grad().defined()) p.set_grad(zeros_like(p));
  }
  reduce_dtype(DType::f32, buffer32_, weight);
  reduce_dtype(DType::f64, buffer64_, weight);
}

}  // namespace tg

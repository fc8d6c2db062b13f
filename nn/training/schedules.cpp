#include <tapegrad/nn/training/schedules.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tg {

ExponentialDecay::ExponentialDecay(double initial_learning_rate, std::int64_t decay_steps, double decay_rate,
                                   bool staircase)
    : initial_(initial_learning_rate), rate_(decay_rate), decay_steps_(decay_steps), staircase_(staircase) {
  if (!(initial_learning_rate > 0) || !std::isfinite(initial_learning_rate))
    throw ValueError(
        fmt::format("ExponentialDecay: initial_learning_rate must be > 0 and finite, got {}", initial_learning_rate));
  if (decay_steps < 1) throw ValueError(fmt::format("ExponentialDecay: decay_steps must be >= 1, got {}", decay_steps));
  if (!(decay_rate > 0) || !std::isfinite(decay_rate))
    throw ValueError(fmt::format("ExponentialDecay: decay_rate must be > 0 and finite, got {}", decay_rate));
}

double ExponentialDecay::operator()(std::int64_t step) const {
  double p = static_cast<double>(step) / static_cast<double>(decay_steps_);
  if (staircase_) p = std::floor(p);
  return initial_ * std::pow(rate_, p);
}

PiecewiseConstantDecay::PiecewiseConstantDecay(std::vector<std::int64_t> boundaries, std::vector<double> values)
    : boundaries_(std::move(boundaries)), values_(std::move(values)) {
  if (values_.size() != boundaries_.size() + 1)
    throw ValueError(fmt::format("PiecewiseConstantDecay: {} boundaries need {} values, got {}", boundaries_.size(),
                                 boundaries_.size() + 1, values_.size()));
  for (std::size_t i = 1; i < boundaries_.size(); ++i)
    if (boundaries_[i] <= boundaries_[i - 1])
      throw ValueError(fmt::format("PiecewiseConstantDecay: boundaries must increase, got {} after {}", boundaries_[i],
                                   boundaries_[i - 1]));
}

double PiecewiseConstantDecay::operator()(std::int64_t step) const {
  // The first boundary >= step picks the value before it.
  const auto it = std::lower_bound(boundaries_.begin(), boundaries_.end(), step);
  return values_[static_cast<std::size_t>(it - boundaries_.begin())];
}

CosineDecay::CosineDecay(double initial_learning_rate, std::int64_t decay_steps, double alpha, double warmup_target,
                         std::int64_t warmup_steps)
    : initial_(initial_learning_rate),
      decay_steps_(decay_steps),
      alpha_(alpha),
      warmup_target_(warmup_target),
      warmup_steps_(warmup_steps) {
  if (decay_steps < 1) throw ValueError(fmt::format("CosineDecay: decay_steps must be >= 1, got {}", decay_steps));
  if (warmup_steps < 0) throw ValueError(fmt::format("CosineDecay: warmup_steps must be >= 0, got {}", warmup_steps));
  if (!(alpha >= 0 && alpha <= 1)) throw ValueError(fmt::format("CosineDecay: alpha must be in [0, 1], got {}", alpha));
  if (!(initial_learning_rate >= 0) || !std::isfinite(initial_learning_rate) || !(warmup_target >= 0) ||
      !std::isfinite(warmup_target))
    throw ValueError(fmt::format("CosineDecay: the rates must be >= 0 and finite, got {} and warmup_target {}",
                                 initial_learning_rate, warmup_target));
}

double CosineDecay::operator()(std::int64_t step) const {
  auto decay = [&](double s, double from) {
    const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * s / static_cast<double>(decay_steps_)));
    return from * ((1.0 - alpha_) * cosine + alpha_);
  };
  if (warmup_steps_ == 0) return decay(static_cast<double>(std::min(step, decay_steps_)), initial_);
  const std::int64_t s = std::min(step, decay_steps_ + warmup_steps_);
  if (s < warmup_steps_)
    return initial_ + (warmup_target_ - initial_) * static_cast<double>(s) / static_cast<double>(warmup_steps_);
  return decay(static_cast<double>(s - warmup_steps_), warmup_target_);
}

}  // namespace tg

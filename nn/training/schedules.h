#pragma once
/// \file
/// Learning-rate schedules as Keras defines them (keras.optimizers.schedules): plain values that
/// give the rate for a step, the number of optimizer updates made so far (0 at the first batch).
/// ApplySchedule (nn/training/callbacks.h) sets an optimizer's rate from one before each batch:
///
///     tg::ApplySchedule warm_cosine(tg::CosineDecay(0.0, /*decay_steps=*/1000, /*alpha=*/0.01,
///                                                   /*warmup_target=*/1e-3, /*warmup_steps=*/100));
///
/// Optimizers refuse a rate of 0 (Optimizer::set_learning_rate): a schedule that reaches 0 (a
/// CosineDecay with alpha 0 at its end, a warm-up from 0 at step 0) stops training with that
/// ValueError; give alpha > 0 and a warm-up start above 0.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <vector>

namespace tg {

/// initial_learning_rate * decay_rate ^ (step / decay_steps), the exponent floored with
/// staircase. ValueError unless the rate is > 0, decay_steps >= 1 and decay_rate > 0.
class ExponentialDecay {
 public:
  /// Keras' arguments.
  ExponentialDecay(double initial_learning_rate, std::int64_t decay_steps, double decay_rate, bool staircase = false);
  /// The rate at `step`.
  double operator()(std::int64_t step) const;

 private:
  double initial_, rate_;
  std::int64_t decay_steps_;
  bool staircase_;
};

/// values[0] up to and including step boundaries[0], values[i] for boundaries[i-1] < step <=
/// boundaries[i], and values.back() after the last boundary. ValueError unless there is one more
/// value than boundaries and the boundaries increase.
class PiecewiseConstantDecay {
 public:
  /// Keras' arguments.
  PiecewiseConstantDecay(std::vector<std::int64_t> boundaries, std::vector<double> values);
  /// The rate at `step`.
  double operator()(std::int64_t step) const;

 private:
  std::vector<std::int64_t> boundaries_;
  std::vector<double> values_;
};

/// Cosine decay with an optional linear warm-up, as Keras' CosineDecay. Without warm-up
/// (warmup_steps 0): rate(step) = initial * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps))
/// + alpha) with s = min(step, decay_steps). With warm-up: the rate goes linearly from
/// initial_learning_rate to warmup_target over warmup_steps, then decays from warmup_target as
/// above over decay_steps more. ValueError for decay_steps < 1, warmup_steps < 0, alpha outside
/// [0, 1] or negative rates.
class CosineDecay {
 public:
  /// Keras' arguments; warmup_target is used only when warmup_steps > 0.
  CosineDecay(double initial_learning_rate, std::int64_t decay_steps, double alpha = 0.0, double warmup_target = 0.0,
              std::int64_t warmup_steps = 0);
  /// The rate at `step`.
  double operator()(std::int64_t step) const;

 private:
  double initial_;
  std::int64_t decay_steps_;
  double alpha_, warmup_target_;
  std::int64_t warmup_steps_;
};

}  // namespace tg

#pragma once
/// \file
/// Losses and metrics as fit takes them: plain functions of (y_true, y_pred), in Keras' argument
/// order, returning a scalar tensor. The losses themselves are ops in the same order (tg::mse and
/// tg::mae in ops/loss.h, the cross-entropies in ops/cross_entropy.h). A loss is differentiated;
/// a metric is only reported (fit computes metrics without recording them). A metric is a name
/// and such a function, so a user's own metric is a lambda:
///
///     tg::Metric last_time_step_mse{"last_time_step_mse", [](const tg::Tensor& y_true, const tg::Tensor& y_pred) {
///       return tg::mse(tg::select(y_true, 1, -1), tg::select(y_pred, 1, -1));
///     }};

#include <tapegrad/core/config.h>

#include <functional>
#include <string>

#include <tapegrad/core/tensor.h>
#include <tapegrad/ops/loss.h>

namespace tg {

/// A loss or metric: (y_true, y_pred) -> scalar tensor.
using LossFn = std::function<Tensor(const Tensor& y_true, const Tensor& y_pred)>;

/// A named metric. fit reports it as `name` (and `val_<name>` on the validation data), evaluate
/// under `name`.
struct Metric {
  /// Key in the logs and the History.
  std::string name;
  /// fn(y_true, y_pred) -> a scalar.
  LossFn fn;
};

}  // namespace tg

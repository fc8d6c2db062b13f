#pragma once
/// \file
/// Losses as plain differentiable functions of (y_true, y_pred) or (y_pred, y_true) as named.

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Mean over all elements of (y_pred - y_true)^2, as Keras' "mse". Shapes must be equal.
/// The gradient flows to y_pred (and to y_true if it requires one).
Tensor mse_loss(const Tensor& y_pred, const Tensor& y_true);

}  // namespace tg

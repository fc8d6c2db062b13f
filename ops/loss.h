#pragma once
/// \file
/// Regression losses as plain differentiable functions of (y_true, y_pred), Keras' order, as
/// every loss in tapegrad takes its arguments (the cross-entropies of ops/cross_entropy.h too).
/// Each returns a scalar; fit takes them as they are (`FitOptions::loss = tg::mae`).

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Mean over all elements of (y_pred - y_true)^2, as Keras' "mse": one fused op. ShapeError
/// unless the shapes are equal, DTypeError unless the dtypes are. The gradient flows to y_pred
/// (and to y_true if it requires one).
Tensor mse(const Tensor& y_true, const Tensor& y_pred);

/// Mean over all elements of |y_pred - y_true|, as Keras' "mae". Same checks as mse.
Tensor mae(const Tensor& y_true, const Tensor& y_pred);

}  // namespace tg

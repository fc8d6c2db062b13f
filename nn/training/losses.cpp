#include <tapegrad/nn/training/losses.h>

#include <fmt/format.h>

#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/loss.h>
#include <tapegrad/ops/reduce.h>
#include <tapegrad/ops/unary.h>

namespace tg {

Tensor mse(const Tensor& y_true, const Tensor& y_pred) { return mse_loss(y_pred, y_true); }

Tensor mae(const Tensor& y_true, const Tensor& y_pred) {
  if (y_true.shape() != y_pred.shape())
    throw ShapeError(fmt::format("mae: y_true {} and y_pred {}: expected equal shapes", y_true.shape(),
                                 y_pred.shape()));
  if (y_true.dtype() != y_pred.dtype())
    throw DTypeError(fmt::format("mae: y_true is {} and y_pred is {}; expected the same dtype",
                                 dtype_name(y_true.dtype()), dtype_name(y_pred.dtype())));
  return mean(abs(y_pred - y_true));
}

}  // namespace tg

#include "nn/losses.h"

#include <fmt/format.h>

#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "ops/unary.h"

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

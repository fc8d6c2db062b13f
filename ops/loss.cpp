#include <tapegrad/ops/loss.h>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/kernels/rows.h>
#include <tapegrad/ops/reduce.h>
#include <tapegrad/ops/unary.h>

namespace tg {

namespace {

void check_pair(const char* fn, const Tensor& y_true, const Tensor& y_pred) {
  if (y_true.shape() != y_pred.shape())
    throw ShapeError(
        fmt::format("{}: y_true {} and y_pred {}: expected equal shapes", fn, y_true.shape(), y_pred.shape()));
  if (y_true.dtype() != y_pred.dtype())
    throw DTypeError(fmt::format("{}: y_true {} is {} and y_pred {} is {}; expected the same dtype", fn, y_true.shape(),
                                 dtype_name(y_true.dtype()), y_pred.shape(), dtype_name(y_pred.dtype())));
}

}  // namespace

Tensor mse(const Tensor& y_true, const Tensor& y_pred) {
  check_pair("mse", y_true, y_pred);
  const std::int64_t n = y_pred.numel();
  Tensor out = Tensor::empty(Shape{}, y_pred.dtype());
  dispatch(y_pred.dtype(), [&]<class T>() {
    const T* p = y_pred.data<T>();
    const T* t = y_true.data<T>();
    // In double, so that a float32 loss over many elements still sums accurately.
    const double acc = kernels::squared_error_sum(p, t, n);
    out.data<T>()[0] = static_cast<T>(acc / static_cast<double>(n));  // NaN for no elements, as numpy
  });
  if (NodeRef node = record(
          "mse",
          [](BackwardContext& ctx) {
            const Tensor& truth = ctx.saved(0);
            const Tensor& pred = ctx.saved(1);
            dispatch(pred.dtype(), [&]<class T>() {
              const std::int64_t n = pred.numel();
              const T* p = pred.data<T>();
              const T* t = truth.data<T>();
              // d/dtrue = -2 (pred - true) / n, d/dpred its negative
              const double g = static_cast<double>(ctx.grad_output().data<T>()[0]);
              const T s = static_cast<T>(2.0 * g / static_cast<double>(n));
              for (int i = 0; i < 2; ++i) {
                if (!ctx.needs_grad(i)) continue;
                auto [grad, first] = ctx.grad_target(i);
                T* d = grad.data<T>();
                const T si = i == 0 ? -s : s;
                kernels::scaled_difference(si, p, t, d, n, !first);
              }
            });
          },
          {&y_true, &y_pred}, out))
    node.save(y_true).save(y_pred);
  return out;
}

Tensor mae(const Tensor& y_true, const Tensor& y_pred) {
  check_pair("mae", y_true, y_pred);
  return mean(abs(y_pred - y_true));
}

}  // namespace tg

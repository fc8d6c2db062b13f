#include <tapegrad/nn/training/classification.h>

#include <fmt/format.h>

#include <tapegrad/ops/cross_entropy.h>

namespace tg {

namespace {

// y_pred is y_true's shape, or that shape with a trailing axis of 1.
bool binary_shapes(const Tensor& y_true, const Tensor& y_pred) {
  if (y_pred.shape() == y_true.shape()) return true;
  if (y_pred.rank() != y_true.rank() + 1 || y_pred.size(-1) != 1) return false;
  for (int d = 0; d < y_true.rank(); ++d)
    if (y_pred.size(d) != y_true.size(d)) return false;
  return true;
}

}  // namespace

LossFn sparse_categorical_crossentropy_loss(bool from_logits, std::optional<std::int64_t> ignore_class) {
  return [from_logits, ignore_class](const Tensor& y_true, const Tensor& y_pred) {
    return sparse_categorical_crossentropy(y_true, y_pred, from_logits, ignore_class);
  };
}

LossFn binary_crossentropy_loss(bool from_logits) {
  return [from_logits](const Tensor& y_true, const Tensor& y_pred) {
    return binary_crossentropy(y_true, y_pred, from_logits);
  };
}

Tensor binary_accuracy(const Tensor& y_true, const Tensor& y_pred, double threshold) {
  if (!binary_shapes(y_true, y_pred))
    throw ShapeError(
        fmt::format("binary_accuracy: y_true {} and y_pred {}: expected y_pred of y_true's shape (or "
                    "with a last axis of 1)",
                    y_true.shape(), y_pred.shape()));
  const std::int64_t n = y_true.numel();
  std::int64_t right = 0;
  dispatch(y_true.dtype(), [&]<class U>() {
    dispatch(y_pred.dtype(), [&]<class T>() {
      const U* t = y_true.data<U>();
      const T* p = y_pred.data<T>();
      for (std::int64_t i = 0; i < n; ++i)
        right += (static_cast<double>(p[i]) > threshold) == (static_cast<double>(t[i]) > 0.5);
    });
  });
  return scalar(static_cast<double>(right) / static_cast<double>(n), y_pred.dtype());
}

Tensor sparse_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred,
                                   std::optional<std::int64_t> ignore_class) {
  bool leading = y_pred.rank() == y_true.rank() + 1;
  for (int d = 0; leading && d < y_true.rank(); ++d) leading = y_pred.size(d) == y_true.size(d);
  if (!leading || y_pred.size(-1) == 0)
    throw ShapeError(
        fmt::format("sparse_categorical_accuracy: y_true {} and y_pred {}: expected y_pred of shape "
                    "y_true + [classes]",
                    y_true.shape(), y_pred.shape()));
  const std::int64_t rows = y_true.numel(), classes = y_pred.size(-1);
  std::int64_t right = 0, counted = 0;
  dispatch(y_true.dtype(), [&]<class U>() {
    dispatch(y_pred.dtype(), [&]<class T>() {
      const U* t = y_true.data<U>();
      const T* p = y_pred.data<T>();
      for (std::int64_t r = 0; r < rows; ++r) {
        const auto id = static_cast<std::int64_t>(t[r]);
        if (ignore_class && id == *ignore_class) continue;
        const T* row = p + r * classes;
        std::int64_t best = 0;
        for (std::int64_t j = 1; j < classes; ++j)
          if (row[j] > row[best]) best = j;
        right += best == id;
        ++counted;
      }
    });
  });
  return scalar(counted ? static_cast<double>(right) / static_cast<double>(counted) : 0.0, y_pred.dtype());
}

Metric accuracy(bool from_logits, std::optional<std::int64_t> ignore_class) {
  return {"accuracy", [from_logits, ignore_class](const Tensor& y_true, const Tensor& y_pred) {
            if (binary_shapes(y_true, y_pred)) return binary_accuracy(y_true, y_pred, from_logits ? 0.0 : 0.5);
            if (y_pred.rank() == y_true.rank() + 1) return sparse_categorical_accuracy(y_true, y_pred, ignore_class);
            throw ShapeError(
                fmt::format("accuracy: y_true {} and y_pred {}: expected y_pred of y_true's shape "
                            "(binary) or y_true + [classes] (sparse categorical)",
                            y_true.shape(), y_pred.shape()));
          }};
}

}  // namespace tg

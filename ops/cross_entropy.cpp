#include <tapegrad/ops/cross_entropy.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

namespace {

struct SparseAttrs {
  std::int64_t rows, classes;
  std::int64_t ignore;  // meaningful when has_ignore
  double inv_count;     // 1 / the number of items not ignored (0 when there are none)
  bool has_ignore, from_logits;
};

// Calls f.template operator()<T, U>() with T the dtype of `a` and U that of `b`.
template <class F>
void dispatch2(DType a, DType b, F&& f) {
  dispatch(a, [&]<class T>() { dispatch(b, [&]<class U>() { f.template operator()<T, U>(); }); });
}

bool ignored(const SparseAttrs& a, std::int64_t cls) { return a.has_ignore && cls == a.ignore; }

// Keras clips probabilities into [eps, 1 - eps]; the gradient passes only inside that range.
template <class T>
T clip_probability(T p) {
  return std::clamp(p, static_cast<T>(kProbabilityEpsilon), static_cast<T>(1.0 - kProbabilityEpsilon));
}

}  // namespace

Tensor sparse_categorical_crossentropy(const Tensor& targets, const Tensor& pred, bool from_logits,
                                       std::optional<std::int64_t> ignore_class) {
  constexpr const char* op = "sparse_categorical_crossentropy";
  const Shape& ps = pred.shape();
  if (ps.rank() == 0) throw ShapeError(fmt::format("{}: pred is a scalar, expected class scores [..., classes]", op));
  bool leading = targets.rank() == ps.rank() - 1;
  for (int d = 0; leading && d < targets.rank(); ++d) leading = targets.size(d) == ps[d];
  if (!leading)
    throw ShapeError(
        fmt::format("{}: pred {} and targets {}: expected targets of shape {} (pred without its class "
                    "axis)",
                    op, ps, targets.shape(), Shape(ps.dims().first(ps.dims().size() - 1))));
  const std::int64_t classes = ps[-1];
  if (classes == 0) throw ShapeError(fmt::format("{}: pred {} has no classes", op, ps));
  SparseAttrs a{targets.numel(), classes, ignore_class.value_or(0), 0.0, ignore_class.has_value(), from_logits};

  Tensor out = Tensor::empty(Shape{}, pred.dtype());
  dispatch2(pred.dtype(), targets.dtype(), [&]<class T, class U>() {
    const T* p = pred.data<T>();
    const U* t = targets.data<U>();
    double total = 0.0;  // summed in double: a float32 loss over many items stays accurate
    std::int64_t count = 0;
    for (std::int64_t r = 0; r < a.rows; ++r) {
      const double id = static_cast<double>(t[r]);
      const bool integral = std::isfinite(id) && id == std::floor(id) && std::abs(id) < 0x1p62;
      if (integral && ignored(a, static_cast<std::int64_t>(id))) continue;
      if (!integral || id < 0 || id >= static_cast<double>(classes))
        throw ValueError(fmt::format("{}: target {} at flat position {} is not a class id in [0, {}) for pred {}{}", op,
                                     id, r, classes, ps,
                                     ignore_class ? fmt::format(" (nor the ignored class {})", *ignore_class) : ""));
      const auto cls = static_cast<std::int64_t>(id);
      const T* row = p + r * classes;
      if (from_logits) {
        const T m = *std::max_element(row, row + classes);
        double s = 0.0;
        for (std::int64_t j = 0; j < classes; ++j) s += std::exp(static_cast<double>(row[j] - m));
        total += static_cast<double>(m) + std::log(s) - static_cast<double>(row[cls]);
      } else {
        double s = 0.0;
        for (std::int64_t j = 0; j < classes; ++j) s += static_cast<double>(clip_probability(row[j]));
        total += std::log(s) - std::log(static_cast<double>(clip_probability(row[cls])));
      }
      ++count;
    }
    a.inv_count = count > 0 ? 1.0 / static_cast<double>(count) : 0.0;
    out.data<T>()[0] = static_cast<T>(total * a.inv_count);
  });

  // From logits: dpred = (softmax(pred) - onehot(target)) g / count. From probabilities, with c
  // the clipped p and S its row sum: dp_j = (1/S - [j == target] / c_j) g / count inside the clip.
  if (NodeRef node = record(
          op,
          [](BackwardContext& ctx) {
            const auto& a = ctx.attrs<SparseAttrs>();
            const Tensor& pred = ctx.saved(0);
            const Tensor& targets = ctx.saved(1);
            Tensor& dpred = ctx.grad_input(0);
            dispatch2(pred.dtype(), targets.dtype(), [&]<class T, class U>() {
              const T* p = pred.data<T>();
              const U* t = targets.data<U>();
              T* d = dpred.data<T>();
              const T scale = static_cast<T>(static_cast<double>(ctx.grad_output().data<T>()[0]) * a.inv_count);
              // The targets were checked in forward; written through data<T>() since (which the
              // version check cannot see), an id must still never index outside its row.
              for (std::int64_t r = 0; r < a.rows; ++r) {
                const double id = static_cast<double>(t[r]);
                const bool integral = std::isfinite(id) && id == std::floor(id) && std::abs(id) < 0x1p62;
                if (integral && ignored(a, static_cast<std::int64_t>(id))) continue;
                if (!integral || id < 0 || id >= static_cast<double>(a.classes))
                  throw ValueError(
                      fmt::format("{} backward: target {} at flat position {} is no longer a class id in "
                                  "[0, {}): the targets were changed after the forward",
                                  ctx.op(), id, r, a.classes));
              }
              for (std::int64_t r = 0; r < a.rows; ++r) {
                const auto cls = static_cast<std::int64_t>(t[r]);
                if (ignored(a, cls)) continue;
                const T* row = p + r * a.classes;
                T* drow = d + r * a.classes;
                if (a.from_logits) {
                  const T m = *std::max_element(row, row + a.classes);
                  T s = 0;
                  for (std::int64_t j = 0; j < a.classes; ++j) s += std::exp(row[j] - m);
                  const T inv = scale / s;
                  for (std::int64_t j = 0; j < a.classes; ++j) drow[j] += std::exp(row[j] - m) * inv;
                  drow[cls] -= scale;
                } else {
                  T s = 0;
                  for (std::int64_t j = 0; j < a.classes; ++j) s += clip_probability(row[j]);
                  const T eps = static_cast<T>(kProbabilityEpsilon);
                  for (std::int64_t j = 0; j < a.classes; ++j) {
                    if (row[j] < eps || row[j] > T(1) - eps) continue;
                    drow[j] += scale * (T(1) / s - (j == cls ? T(1) / row[j] : T(0)));
                  }
                }
              }
            });
          },
          {&pred}, out))
    node.save(pred).save(targets).attrs(a);
  return out;
}

Tensor binary_crossentropy(const Tensor& target, const Tensor& pred, bool from_logits) {
  constexpr const char* op = "binary_crossentropy";
  if (pred.shape() != target.shape())
    throw ShapeError(fmt::format("{}: pred {} and target {}: expected equal shapes", op, pred.shape(), target.shape()));
  if (pred.dtype() != target.dtype())
    throw DTypeError(fmt::format("{}: pred {} is {} and target {} is {}; expected the same dtype", op, pred.shape(),
                                 dtype_name(pred.dtype()), target.shape(), dtype_name(target.dtype())));
  const std::int64_t n = pred.numel();
  Tensor out = Tensor::empty(Shape{}, pred.dtype());
  dispatch(pred.dtype(), [&]<class T>() {
    const T* p = pred.data<T>();
    const T* t = target.data<T>();
    double total = 0.0;
    const double eps = kProbabilityEpsilon;
    for (std::int64_t i = 0; i < n; ++i) {
      const double x = static_cast<double>(p[i]), y = static_cast<double>(t[i]);
      if (from_logits) {
        total += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
      } else {
        const auto c = static_cast<double>(clip_probability(p[i]));  // clipped in T, as Keras in float32
        total -= y * std::log(c + eps) + (1.0 - y) * std::log(1.0 - c + eps);
      }
    }
    out.data<T>()[0] = static_cast<T>(total / static_cast<double>(n));  // NaN for no elements, as mse
  });

  // From logits: dx = (sigmoid(x) - t) g / n, dt = -x g / n. From probabilities, with c the
  // clipped p: dp = -(t / (c + eps) - (1 - t) / (1 - c + eps)) g / n inside the clip, and
  // dt = -(log(c + eps) - log(1 - c + eps)) g / n.
  if (NodeRef node = record(
          op,
          [](BackwardContext& ctx) {
            const bool logits = ctx.attrs<bool>();
            const Tensor& pred = ctx.saved(0);
            const Tensor& target = ctx.saved(1);
            dispatch(pred.dtype(), [&]<class T>() {
              const std::int64_t n = pred.numel();
              const T* p = pred.data<T>();
              const T* t = target.data<T>();
              const T s = static_cast<T>(static_cast<double>(ctx.grad_output().data<T>()[0]) / static_cast<double>(n));
              const T eps = static_cast<T>(kProbabilityEpsilon);
              T* dp = ctx.needs_grad(0) ? ctx.grad_input(0).data<T>() : nullptr;
              T* dt = ctx.needs_grad(1) ? ctx.grad_input(1).data<T>() : nullptr;
              for (std::int64_t i = 0; i < n; ++i) {
                const T x = p[i];
                if (logits) {
                  const T sig = x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
                  if (dp) dp[i] += s * (sig - t[i]);
                  if (dt) dt[i] -= s * x;
                } else {
                  const T c = std::clamp(x, eps, T(1) - eps);
                  if (dp && x >= eps && x <= T(1) - eps)
                    dp[i] -= s * (t[i] / (c + eps) - (T(1) - t[i]) / (T(1) - c + eps));
                  if (dt) dt[i] -= s * (std::log(c + eps) - std::log(T(1) - c + eps));
                }
              }
            });
          },
          {&pred, &target}, out))
    node.save(pred).save(target).attrs(from_logits);
  return out;
}

}  // namespace tg

#include <tapegrad/ops/softmax.h>

#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

namespace {

// x viewed as [outer, n, inner] around the softmax axis.
struct AxisAttrs {
  std::int64_t outer, n, inner;
};

AxisAttrs split_at(const Tensor& x, int axis, const char* op) {
  const Shape& s = x.shape();
  if (s.rank() == 0) throw ShapeError(fmt::format("{}: x is a scalar, expected at least one axis", op));
  const int d = s.axis(axis, op);
  if (s[d] == 0)
    throw ValueError(fmt::format("{}: axis {} of shape {} is empty; the normalisation is undefined", op, axis, s));
  AxisAttrs a{1, s[d], 1};
  for (int i = 0; i < d; ++i) a.outer *= s[i];
  for (int i = d + 1; i < s.rank(); ++i) a.inner *= s[i];
  return a;
}

// Calls f(offset of the slice's first element) for every slice along the axis; elements of a
// slice are `inner` apart.
template <class F>
void for_each_slice(const AxisAttrs& a, F f) {
  for (std::int64_t o = 0; o < a.outer; ++o)
    for (std::int64_t i = 0; i < a.inner; ++i) f(o * a.n * a.inner + i);
}

// The largest of a slice's n values, `stride` apart.
template <class T>
T slice_max(const T* x, std::int64_t n, std::int64_t stride) {
  T m = x[0];
  for (std::int64_t j = 1; j < n; ++j) m = x[j * stride] > m ? x[j * stride] : m;
  return m;
}

}  // namespace

Tensor softmax(const Tensor& x, int axis) {
  const AxisAttrs a = split_at(x, axis, "softmax");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for_each_slice(a, [&](std::int64_t base) {
      const T m = slice_max(in + base, a.n, a.inner);
      T total = 0;
      for (std::int64_t j = 0; j < a.n; ++j) {
        const T e = std::exp(in[base + j * a.inner] - m);
        out[base + j * a.inner] = e;
        total += e;
      }
      const T inv = T(1) / total;
      for (std::int64_t j = 0; j < a.n; ++j) out[base + j * a.inner] *= inv;
    });
  });
  // dx = y * (g - sum(g * y)) along the axis
  if (NodeRef node = record(
          "softmax",
          [](BackwardContext& ctx) {
            const auto& a = ctx.attrs<AxisAttrs>();
            const Tensor& y = ctx.saved(0);
            const Tensor& g = ctx.grad_output();
            Tensor& dx = ctx.grad_input(0);
            dispatch(y.dtype(), [&]<class T>() {
              const T* yv = y.data<T>();
              const T* gv = g.data<T>();
              T* d = dx.data<T>();
              for_each_slice(a, [&](std::int64_t base) {
                T dot = 0;
                for (std::int64_t j = 0; j < a.n; ++j) dot += gv[base + j * a.inner] * yv[base + j * a.inner];
                for (std::int64_t j = 0; j < a.n; ++j) {
                  const std::int64_t k = base + j * a.inner;
                  d[k] += yv[k] * (gv[k] - dot);
                }
              });
            });
          },
          {&x}, y))
    node.save(y).attrs(a);
  return y;
}

Tensor log_softmax(const Tensor& x, int axis) {
  const AxisAttrs a = split_at(x, axis, "log_softmax");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for_each_slice(a, [&](std::int64_t base) {
      const T m = slice_max(in + base, a.n, a.inner);
      T total = 0;
      for (std::int64_t j = 0; j < a.n; ++j) total += std::exp(in[base + j * a.inner] - m);
      const T lse = m + std::log(total);
      for (std::int64_t j = 0; j < a.n; ++j) out[base + j * a.inner] = in[base + j * a.inner] - lse;
    });
  });
  // dx = g - softmax(x) * sum(g) along the axis, with softmax(x) = exp(y)
  if (NodeRef node = record(
          "log_softmax",
          [](BackwardContext& ctx) {
            const auto& a = ctx.attrs<AxisAttrs>();
            const Tensor& y = ctx.saved(0);
            const Tensor& g = ctx.grad_output();
            Tensor& dx = ctx.grad_input(0);
            dispatch(y.dtype(), [&]<class T>() {
              const T* yv = y.data<T>();
              const T* gv = g.data<T>();
              T* d = dx.data<T>();
              for_each_slice(a, [&](std::int64_t base) {
                T total = 0;
                for (std::int64_t j = 0; j < a.n; ++j) total += gv[base + j * a.inner];
                for (std::int64_t j = 0; j < a.n; ++j) {
                  const std::int64_t k = base + j * a.inner;
                  d[k] += gv[k] - std::exp(yv[k]) * total;
                }
              });
            });
          },
          {&x}, y))
    node.save(y).attrs(a);
  return y;
}

}  // namespace tg

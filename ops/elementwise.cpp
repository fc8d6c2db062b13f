#include <tapegrad/ops/elementwise.h>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/broadcast.h>
#include <tapegrad/ops/kernels/parallel.h>

namespace tg {

namespace {
void check_dtypes(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype())
    throw DTypeError(fmt::format("{}: operands are {} {} and {} {}; expected the same dtype", op, a.shape(),
                                 dtype_name(a.dtype()), b.shape(), dtype_name(b.dtype())));
}

template <class F>
Tensor binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_dtypes(a, b, op);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  const std::int64_t n = out_shape.numel();
  const bool a_full = a.shape() == out_shape, b_full = b.shape() == out_shape;
  dispatch(a.dtype(), [&]<class T>() {
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    T* z = out.data<T>();
    // Equal shapes or a one-element operand: split over the pool's threads when large (each
    // element as on one thread). Other broadcasts run on the calling thread.
    if (n >= 2 * kernels::kElementwiseGrain && (a_full || a.numel() == 1) && (b_full || b.numel() == 1)) {
      kernels::parallel_for(n, kernels::kElementwiseGrain, [&](std::int64_t i0, std::int64_t i1) {
        if (a_full && b_full)
          for (std::int64_t i = i0; i < i1; ++i) z[i] = f(x[i], y[i]);
        else if (a_full)
          for (std::int64_t i = i0; i < i1; ++i) z[i] = f(x[i], y[0]);
        else
          for (std::int64_t i = i0; i < i1; ++i) z[i] = f(x[0], y[i]);
      });
      return;
    }
    detail::broadcast_binary(a.shape(), x, b.shape(), y, out_shape, z, [&](T u, T v) { return f(u, v); });
  });
  return out;
}

template <class F>
Tensor unary_map(const Tensor& a, F f) {
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&]<class T>() {
    const T* x = a.data<T>();
    T* y = out.data<T>();
    kernels::parallel_for(a.numel(), kernels::kElementwiseGrain, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) y[i] = f(x[i]);
    });
  });
  return out;
}

struct Scalar {
  double value;
};

// s * dy, computed in dy's own buffer when the tape holds it alone (no allocation).
Tensor scaled_grad_output(BackwardContext& ctx, double s) {
  Tensor g = ctx.writable_grad_output();
  dispatch(g.dtype(), [&]<class T>() {
    T* v = g.data<T>();
    const T f = static_cast<T>(s);
    kernels::parallel_for(g.numel(), kernels::kElementwiseGrain, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) v[i] *= f;
    });
  });
  return g;
}
}  // namespace

// ---- tensor op tensor -------------------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "add", [](auto x, auto y) { return x + y; });
  record(
      "add",
      [](BackwardContext& ctx) {
        Tensor g = ctx.take_grad_output();
        if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to(g, ctx.input_shape(0)));
        if (ctx.needs_grad(1)) ctx.accumulate(1, sum_to(g, ctx.input_shape(1)));
      },
      {&a, &b}, out);
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "sub", [](auto x, auto y) { return x - y; });
  record(
      "sub",
      [](BackwardContext& ctx) {
        Tensor g = ctx.take_grad_output();
        if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to(g, ctx.input_shape(0)));
        if (ctx.needs_grad(1)) ctx.accumulate(1, sum_to(neg(g), ctx.input_shape(1)));
      },
      {&a, &b}, out);
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "mul", [](auto x, auto y) { return x * y; });
  if (NodeRef node = record(
          "mul",
          [](BackwardContext& ctx) {
            const Tensor& g = ctx.grad_output();
            if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to(mul(g, ctx.saved(1)), ctx.input_shape(0)));
            if (ctx.needs_grad(1)) ctx.accumulate(1, sum_to(mul(g, ctx.saved(0)), ctx.input_shape(1)));
          },
          {&a, &b}, out))
    node.save(a).save(b);
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "div", [](auto x, auto y) { return x / y; });
  if (NodeRef node = record(
          "div",
          [](BackwardContext& ctx) {
            const Tensor& g = ctx.grad_output();
            const Tensor& b = ctx.saved(1);
            if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to(div(g, b), ctx.input_shape(0)));
            if (ctx.needs_grad(1))  // d(a/b)/db = -a / b^2 = -out / b
              ctx.accumulate(1, sum_to(neg(div(mul(g, ctx.saved(2)), b)), ctx.input_shape(1)));
          },
          {&a, &b}, out))
    node.save(a).save(b).save(out);
  return out;
}

Tensor neg(const Tensor& a) {
  Tensor out = unary_map(a, [](auto x) { return -x; });
  record(
      "neg", [](BackwardContext& ctx) { ctx.accumulate(0, scaled_grad_output(ctx, -1.0)); }, {&a}, out);
  return out;
}

// ---- tensor op scalar -------------------------------------------------------------------------

Tensor add(const Tensor& a, double s) {
  Tensor out = unary_map(a, [s](auto x) { return x + static_cast<decltype(x)>(s); });
  record(
      "add_scalar", [](BackwardContext& ctx) { ctx.accumulate(0, ctx.take_grad_output()); }, {&a}, out);
  return out;
}

Tensor sub(const Tensor& a, double s) { return add(a, -s); }

Tensor rsub(double s, const Tensor& a) {
  Tensor out = unary_map(a, [s](auto x) { return static_cast<decltype(x)>(s) - x; });
  record(
      "rsub_scalar", [](BackwardContext& ctx) { ctx.accumulate(0, scaled_grad_output(ctx, -1.0)); }, {&a}, out);
  return out;
}

Tensor mul(const Tensor& a, double s) {
  Tensor out = unary_map(a, [s](auto x) { return x * static_cast<decltype(x)>(s); });
  if (NodeRef node = record(
          "mul_scalar",
          [](BackwardContext& ctx) { ctx.accumulate(0, scaled_grad_output(ctx, ctx.attrs<Scalar>().value)); }, {&a},
          out))
    node.attrs(Scalar{s});
  return out;
}

Tensor div(const Tensor& a, double s) { return mul(a, 1.0 / s); }

Tensor rdiv(double s, const Tensor& a) {
  Tensor out = unary_map(a, [s](auto x) { return static_cast<decltype(x)>(s) / x; });
  if (NodeRef node = record(
          "rdiv_scalar",
          [](BackwardContext& ctx) {
            // d(s/a)/da = -s / a^2 = -out / a
            ctx.accumulate(0, neg(div(mul(ctx.grad_output(), ctx.saved(1)), ctx.saved(0))));
          },
          {&a}, out))
    node.save(a).save(out);
  return out;
}

}  // namespace tg

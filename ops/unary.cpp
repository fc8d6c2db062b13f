#include <tapegrad/ops/unary.h>

#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/kernels/parallel.h>
#include <tapegrad/ops/kernels/unary.h>

namespace tg {

namespace {
// Large tensors are split over the pool's threads in parts of at least `grain` elements; each
// element is computed as on one thread.
constexpr std::int64_t kCheap = kernels::kElementwiseGrain, kMath = kernels::kMathGrain;

// Applies f elementwise into a new tensor.
template <class F>
Tensor map(const Tensor& x, F f, std::int64_t grain = kCheap) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    kernels::parallel_for(x.numel(), grain, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) out[i] = static_cast<T>(f(in[i]));
    });
  });
  return y;
}

// dx += dy * d(s) elementwise, with d computed from the saved tensor s (input or output). dy is
// scaled in place and handed over: the rule allocates nothing when dy is the tape's alone.
template <class F>
void accumulate_map(BackwardContext& ctx, const Tensor& s, F d) {
  Tensor g = ctx.writable_grad_output();
  dispatch(s.dtype(), [&]<class T>() {
    const T* sv = s.data<T>();
    T* gv = g.data<T>();
    kernels::parallel_for(s.numel(), kCheap, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) gv[i] *= static_cast<T>(d(sv[i]));
    });
  });
  ctx.accumulate(0, std::move(g));
}

// The same for a kernel that scales dy in place from the saved output.
template <class K>
void accumulate_scaled(BackwardContext& ctx, K kernel) {
  const Tensor& out = ctx.saved(0);
  Tensor g = ctx.writable_grad_output();
  dispatch(out.dtype(), [&]<class T>() {
    const T* y = out.data<T>();
    T* gv = g.data<T>();
    kernels::parallel_for(out.numel(), kCheap,
                          [&](std::int64_t i0, std::int64_t i1) { kernel(y + i0, gv + i0, i1 - i0); });
  });
  ctx.accumulate(0, std::move(g));
}

struct Params {
  double a, b;
};
}  // namespace

Tensor square(const Tensor& x) {
  Tensor y = map(x, [](auto v) { return v * v; });
  if (NodeRef node = record(
          "square", [](BackwardContext& ctx) { accumulate_map(ctx, ctx.saved(0), [](auto v) { return 2 * v; }); }, {&x},
          y))
    node.save(x);
  return y;
}

Tensor sqrt(const Tensor& x) {
  Tensor y = map(
      x, [](auto v) { return std::sqrt(v); }, kMath);
  if (NodeRef node = record(
          "sqrt", [](BackwardContext& ctx) { accumulate_map(ctx, ctx.saved(0), [](auto s) { return 0.5 / s; }); }, {&x},
          y))
    node.save(y);
  return y;
}

Tensor exp(const Tensor& x) {
  Tensor y = map(
      x, [](auto v) { return std::exp(v); }, kMath);
  if (NodeRef node = record(
          "exp", [](BackwardContext& ctx) { accumulate_map(ctx, ctx.saved(0), [](auto s) { return s; }); }, {&x}, y))
    node.save(y);
  return y;
}

Tensor log(const Tensor& x) {
  Tensor y = map(
      x, [](auto v) { return std::log(v); }, kMath);
  if (NodeRef node = record(
          "log", [](BackwardContext& ctx) { accumulate_map(ctx, ctx.saved(0), [](auto v) { return 1 / v; }); }, {&x},
          y))
    node.save(x);
  return y;
}

Tensor abs(const Tensor& x) {
  Tensor y = map(x, [](auto v) { return std::abs(v); });
  if (NodeRef node = record(
          "abs",
          [](BackwardContext& ctx) {
            accumulate_map(ctx, ctx.saved(0), [](auto v) { return v > 0 ? 1 : (v < 0 ? -1 : 0); });
          },
          {&x}, y))
    node.save(x);
  return y;
}

Tensor tanh(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    kernels::parallel_for(x.numel(), kMath,
                          [&](std::int64_t i0, std::int64_t i1) { kernels::tanh_forward(in + i0, out + i0, i1 - i0); });
  });
  if (NodeRef node = record(
          "tanh",
          [](BackwardContext& ctx) {
            accumulate_scaled(ctx, [](const auto* y, auto* g, std::int64_t n) { kernels::tanh_grad_inplace(y, g, n); });
          },
          {&x}, y))
    node.save(y);
  return y;
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    kernels::parallel_for(x.numel(), kMath, [&](std::int64_t i0, std::int64_t i1) {
      kernels::sigmoid_forward(in + i0, out + i0, i1 - i0);
    });
  });
  if (NodeRef node = record(
          "sigmoid",
          [](BackwardContext& ctx) {
            accumulate_scaled(ctx,
                              [](const auto* y, auto* g, std::int64_t n) { kernels::sigmoid_grad_inplace(y, g, n); });
          },
          {&x}, y))
    node.save(y);
  return y;
}

Tensor relu(const Tensor& x) {
  Tensor y = map(x, [](auto v) { return v > 0 ? v : decltype(v)(0); });
  if (NodeRef node = record(
          "relu", [](BackwardContext& ctx) { accumulate_map(ctx, ctx.saved(0), [](auto v) { return v > 0 ? 1 : 0; }); },
          {&x}, y))
    node.save(x);
  return y;
}

Tensor pow(const Tensor& x, double p) {
  Tensor y = map(
      x, [p](auto v) { return std::pow(v, static_cast<decltype(v)>(p)); }, kMath);
  if (NodeRef node = record(
          "pow",
          [](BackwardContext& ctx) {
            const double p = ctx.attrs<Params>().a;
            accumulate_map(ctx, ctx.saved(0), [p](auto v) {
              return p == 0 ? decltype(v)(0)
                            : static_cast<decltype(v)>(p) * std::pow(v, static_cast<decltype(v)>(p - 1));
            });
          },
          {&x}, y))
    node.save(x).attrs(Params{p, 0});
  return y;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  if (!(lo <= hi)) throw ValueError(fmt::format("clamp: lower bound {} is above upper bound {}", lo, hi));
  Tensor y = map(x, [lo, hi](auto v) {
    using T = decltype(v);
    return v < static_cast<T>(lo) ? static_cast<T>(lo) : (v > static_cast<T>(hi) ? static_cast<T>(hi) : v);
  });
  if (NodeRef node = record(
          "clamp",
          [](BackwardContext& ctx) {
            const Params p = ctx.attrs<Params>();
            accumulate_map(ctx, ctx.saved(0), [p](auto v) { return v > p.a && v < p.b ? 1 : 0; });
          },
          {&x}, y))
    node.save(x).attrs(Params{lo, hi});
  return y;
}

}  // namespace tg

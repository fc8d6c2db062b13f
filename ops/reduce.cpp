#include <tapegrad/ops/reduce.h>

#include <cmath>
#include <span>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/broadcast.h>

namespace tg {

namespace {
struct ReduceAttrs {
  std::uint32_t mask;  // bit d set: input axis d is reduced
  double scale;        // 1 for sum, 1/count for mean
};

// The input shape with the reduced axes set to 1.
Shape keep_shape(const Shape& in, std::uint32_t mask) {
  Shape s;
  for (int d = 0; d < in.rank(); ++d) s.push_back(mask >> d & 1u ? 1 : in[d]);
  return s;
}

Shape reduced_shape(const Shape& in, std::uint32_t mask, bool keepdim) {
  if (keepdim) return keep_shape(in, mask);
  Shape s;
  for (int d = 0; d < in.rank(); ++d)
    if (!(mask >> d & 1u)) s.push_back(in[d]);
  return s;
}

std::uint32_t axes_mask(const Shape& shape, std::span<const int> axes, const char* op) {
  std::uint32_t mask = 0;
  for (int a : axes) {
    const int d = shape.axis(a, op);
    if (mask >> d & 1u)
      throw ValueError(fmt::format("{}: axis {} is listed twice in the axes of a tensor of shape {}", op, a, shape));
    mask |= 1u << d;
  }
  return mask;
}

std::uint32_t all_axes(const Shape& shape) { return (1u << shape.rank()) - 1u; }

// sum (scale 1) or mean (scale 1/count) over the axes in `mask`.
Tensor reduce_sum(const Tensor& x, std::uint32_t mask, bool keepdim, bool mean, const char* op) {
  const Shape& in = x.shape();
  std::int64_t count = 1;
  for (int d = 0; d < in.rank(); ++d)
    if (mask >> d & 1u) count *= in[d];
  // An empty reduction gives 0 for sum and NaN (0/0) for mean, as numpy does.
  const double scale = mean ? 1.0 / static_cast<double>(count) : 1.0;

  Tensor folded = sum_to(x, keep_shape(in, mask));
  if (folded.is_same(x)) folded = x.clone();  // nothing to fold: still a new tensor
  if (mean) {
    dispatch(folded.dtype(), [&]<class T>() {
      T* p = folded.data<T>();
      for (std::int64_t i = 0, n = folded.numel(); i < n; ++i) p[i] = static_cast<T>(p[i] * scale);
    });
  }
  Tensor out = folded.view(reduced_shape(in, mask, keepdim));
  folded = Tensor();
  if (NodeRef node = record(
          op,
          [](BackwardContext& ctx) {
            const auto& a = ctx.attrs<ReduceAttrs>();
            const Tensor& g = ctx.grad_output();
            Tensor& dx = ctx.grad_input(0);
            add_expanded(dx, g.view(keep_shape(ctx.input_shape(0), a.mask)), a.scale);
          },
          {&x}, out))
    node.attrs(ReduceAttrs{mask, scale});
  return out;
}

// Index of the first maximal element of p[0], p[stride], ... p[(n-1)*stride]; a NaN counts as
// maximal, so it propagates.
template <class T>
std::int64_t first_max(const T* p, std::int64_t n, std::int64_t stride) {
  std::int64_t best = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    const T v = p[j * stride];
    if (std::isnan(v)) return j;
    if (v > p[best * stride]) best = j;
  }
  return best;
}

struct MaxAttrs {
  std::int64_t outer, n, inner;  // the input seen as [outer, n, inner], reducing n
};
}  // namespace

Tensor sum(const Tensor& x) { return reduce_sum(x, all_axes(x.shape()), false, false, "sum"); }

Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  return reduce_sum(x, axes_mask(x.shape(), axes, "sum"), keepdim, false, "sum");
}

Tensor sum(const Tensor& x, std::initializer_list<int> axes, bool keepdim) {
  return reduce_sum(x, axes_mask(x.shape(), std::span(axes.begin(), axes.size()), "sum"), keepdim, false, "sum");
}

Tensor mean(const Tensor& x) { return reduce_sum(x, all_axes(x.shape()), false, true, "mean"); }

Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  return reduce_sum(x, axes_mask(x.shape(), axes, "mean"), keepdim, true, "mean");
}

Tensor mean(const Tensor& x, std::initializer_list<int> axes, bool keepdim) {
  return reduce_sum(x, axes_mask(x.shape(), std::span(axes.begin(), axes.size()), "mean"), keepdim, true, "mean");
}

Tensor max(const Tensor& x) {
  if (x.numel() == 0)
    throw ValueError(fmt::format("max: tensor of shape {} is empty; the maximum is undefined", x.shape()));
  Tensor out = Tensor::empty(Shape{}, x.dtype());
  const std::int64_t index = dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    const std::int64_t i = first_max(p, x.numel(), 1);
    out.data<T>()[0] = p[i];
    return i;
  });
  if (NodeRef node = record(
          "max",
          [](BackwardContext& ctx) {
            const std::int64_t i = ctx.attrs<std::int64_t>();
            const Tensor& g = ctx.grad_output();
            Tensor& dx = ctx.grad_input(0);
            dispatch(g.dtype(), [&]<class T>() { dx.data<T>()[i] += g.data<T>()[0]; });
          },
          {&x}, out))
    node.attrs(index);
  return out;
}

Tensor max(const Tensor& x, int axis, bool keepdim) {
  const Shape& in = x.shape();
  const int d = in.axis(axis, "max");
  if (in[d] == 0)
    throw ValueError(fmt::format("max: axis {} of shape {} is empty; the maximum is undefined", axis, in));
  MaxAttrs a{1, in[d], 1};
  for (int i = 0; i < d; ++i) a.outer *= in[i];
  for (int i = d + 1; i < in.rank(); ++i) a.inner *= in[i];
  Tensor out = Tensor::empty(reduced_shape(in, 1u << d, keepdim), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    T* y = out.data<T>();
    for (std::int64_t o = 0; o < a.outer; ++o) {
      const T* base = p + o * a.n * a.inner;
      for (std::int64_t i = 0; i < a.inner; ++i)
        y[o * a.inner + i] = base[i + first_max(base + i, a.n, a.inner) * a.inner];
    }
  });
  // Backward finds the same first maxima again in the saved input instead of keeping indices.
  if (NodeRef node = record(
          "max",
          [](BackwardContext& ctx) {
            const auto& a = ctx.attrs<MaxAttrs>();
            const Tensor& x = ctx.saved(0);
            const Tensor& g = ctx.grad_output();
            Tensor& dx = ctx.grad_input(0);
            dispatch(x.dtype(), [&]<class T>() {
              const T* p = x.data<T>();
              const T* gy = g.data<T>();
              T* gx = dx.data<T>();
              for (std::int64_t o = 0; o < a.outer; ++o) {
                const std::int64_t base = o * a.n * a.inner;
                for (std::int64_t i = 0; i < a.inner; ++i)
                  gx[base + i + first_max(p + base + i, a.n, a.inner) * a.inner] += gy[o * a.inner + i];
              }
            });
          },
          {&x}, out))
    node.save(x).attrs(a);
  return out;
}

}  // namespace tg

#include <tapegrad/ops/conv.h>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/kernels/conv.h>
#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/rows.h>

namespace tg {

namespace {

using kernels::Conv1dGeometry;

// A 1x1 convolution without stride or padding reads every input row once: the columns are x.
bool columns_are_input(const Conv1dGeometry& g) {
  return g.taps == 1 && g.stride == 1 && g.pad_left == 0 && g.out_steps == g.steps;
}

Conv1dGeometry check(const Tensor& x, const Tensor& w, const Tensor& b, const Conv1dOptions& o) {
  if (x.rank() != 3) throw ShapeError(fmt::format("conv1d: input {}, expected [batch, time, features]", x.shape()));
  if (w.rank() != 3)
    throw ShapeError(fmt::format("conv1d: kernel {}, expected [kernel_size, features, filters]", w.shape()));
  if (w.size(0) <= 0 || w.size(2) <= 0)
    throw ShapeError(fmt::format("conv1d: kernel {} has no taps or no filters", w.shape()));
  if (x.size(2) != w.size(1))
    throw ShapeError(fmt::format("conv1d: input {} and kernel {}: input features {} != kernel features {}", x.shape(),
                                 w.shape(), x.size(2), w.size(1)));
  if (b.defined() && b.shape() != Shape{w.size(2)})
    throw ShapeError(fmt::format("conv1d: bias {} for kernel {}: expected [{}]", b.shape(), w.shape(), w.size(2)));
  if (w.dtype() != x.dtype() || (b.defined() && b.dtype() != x.dtype()))
    throw DTypeError(fmt::format("conv1d: input is {}, kernel {}, bias {}; expected one dtype", dtype_name(x.dtype()),
                                 dtype_name(w.dtype()), b.defined() ? dtype_name(b.dtype()) : "none"));
  if (o.stride < 1) throw ValueError(fmt::format("conv1d: stride must be >= 1, got {}", o.stride));
  if (o.dilation < 1) throw ValueError(fmt::format("conv1d: dilation must be >= 1, got {}", o.dilation));
  if (o.pad_left < 0 || o.pad_right < 0)
    throw ValueError(fmt::format("conv1d: padding must be >= 0, got ({}, {})", o.pad_left, o.pad_right));
  const std::int64_t out = conv1d_output_steps(x.size(1), w.size(0), o);
  if (out <= 0)
    throw ShapeError(
        fmt::format("conv1d: input {} has {} steps ({} with padding); the kernel spans {} "
                    "(kernel_size {}, dilation {}): expected at least {} steps",
                    x.shape(), x.size(1), x.size(1) + o.pad_left + o.pad_right, (w.size(0) - 1) * o.dilation + 1,
                    w.size(0), o.dilation, (w.size(0) - 1) * o.dilation + 1 - o.pad_left - o.pad_right));
  return {x.size(0), x.size(1), x.size(2), w.size(0), o.stride, o.dilation, o.pad_left, out};
}

void conv1d_backward(BackwardContext& ctx) {
  const Tensor& col = ctx.saved(0);  // [B*T', K*F] (x itself for a plain 1x1 convolution)
  const Tensor& w = ctx.saved(1);    // [K, F, O]
  const Conv1dGeometry g = ctx.attrs<Conv1dGeometry>();
  const std::int64_t rows = g.batch * g.out_steps, kf = g.taps * g.features, o = w.size(2);
  const Tensor& dy = ctx.grad_output();
  dispatch(dy.dtype(), [&]<class T>() {
    const T* dyp = dy.data<T>();
    if (ctx.needs_grad(0) && rows > 0) {
      T* dx = ctx.grad_input(0).data<T>();
      if (columns_are_input(g)) {  // dx[R,F] += dY[R,O] W^T
        kernels::gemm(false, true, rows, kf, o, T(1), dyp, o, w.data<T>(), o, T(1), dx, kf);
      } else {  // dcol[R,KF] = dY[R,O] W^T, then scattered back onto x
        Tensor dcol = Tensor::empty({rows, kf}, dy.dtype());
        kernels::gemm(false, true, rows, kf, o, T(1), dyp, o, w.data<T>(), o, T(0), dcol.data<T>(), kf);
        kernels::col2im_1d_add(g, dcol.data<T>(), dx);
      }
    }
    if (ctx.needs_grad(1) && rows > 0)  // dW[KF,O] += col^T dY
      kernels::gemm(true, false, kf, o, rows, T(1), col.data<T>(), kf, dyp, o, T(1), ctx.grad_input(1).data<T>(), o);
    if (ctx.needs_grad(2)) kernels::add_column_sums(dyp, o, rows, o, ctx.grad_input(2).data<T>());  // db[O]
  });
}

}  // namespace

std::int64_t conv1d_output_steps(std::int64_t steps, std::int64_t kernel_size, const Conv1dOptions& o) {
  const std::int64_t span = (kernel_size - 1) * o.dilation + 1;
  const std::int64_t padded = steps + o.pad_left + o.pad_right;
  if (padded < span || o.stride < 1) return 0;
  return (padded - span) / o.stride + 1;
}

Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv1dOptions& options) {
  const Conv1dGeometry g = check(x, w, b, options);
  const std::int64_t rows = g.batch * g.out_steps, kf = g.taps * g.features, o = w.size(2);
  Tensor y = Tensor::empty({g.batch, g.out_steps, o}, x.dtype());
  Tensor col = columns_are_input(g) ? x.detach() : Tensor::empty({rows, kf}, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    if (!columns_are_input(g)) kernels::im2col_1d(g, x.data<T>(), col.data<T>());
    T* yp = y.data<T>();
    T beta = T(0);
    if (b.defined()) {  // every row starts as the bias, the GEMM adds col W onto it
      const T* bias = b.data<T>();
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < o; ++j) yp[r * o + j] = bias[j];
      beta = T(1);
    }
    // [B*T', K*F] x [K*F, O] -> [B*T', O]
    if (rows > 0) kernels::gemm(false, false, rows, o, kf, T(1), col.data<T>(), kf, w.data<T>(), o, beta, yp, o);
  });
  if (NodeRef node = record("conv1d", &conv1d_backward, {&x, &w, &b}, y)) node.save(col).save(w).attrs(g);
  return y;
}

}  // namespace tg

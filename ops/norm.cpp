#include <tapegrad/ops/norm.h>

#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/kernels/rows.h>

namespace tg {

namespace {

struct NormDims {
  std::int64_t rows, d;
};

void layer_norm_backward(BackwardContext& ctx) {
  const Tensor& xhat = ctx.saved(0);   // [R,D]
  const Tensor& rstd = ctx.saved(1);   // [R]
  const Tensor& gamma = ctx.saved(2);  // [D]
  const NormDims n = ctx.attrs<NormDims>();
  const Tensor& dy = ctx.grad_output();
  dispatch(dy.dtype(), [&]<class T>() {
    const T* xh = xhat.data<T>();
    const T* rs = rstd.data<T>();
    const T* gm = gamma.data<T>();
    const T* g = dy.data<T>();
    if (ctx.needs_grad(0)) {
      // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma
      T* dx = ctx.grad_input(0).data<T>();
      const T inv_d = T(1) / static_cast<T>(n.d);
      for (std::int64_t r = 0; r < n.rows; ++r) {
        const T* gr = g + r * n.d;
        const T* xr = xh + r * n.d;
        T sum = 0, sum_x = 0;
        for (std::int64_t j = 0; j < n.d; ++j) {
          const T dxh = gr[j] * gm[j];
          sum += dxh;
          sum_x += dxh * xr[j];
        }
        const T mean = sum * inv_d, mean_x = sum_x * inv_d;
        T* dxr = dx + r * n.d;
        for (std::int64_t j = 0; j < n.d; ++j) dxr[j] += rs[r] * (gr[j] * gm[j] - mean - xr[j] * mean_x);
      }
    }
    if (ctx.needs_grad(1)) {  // dgamma += sum over rows of dy * xhat
      T* dg = ctx.grad_input(1).data<T>();
      for (std::int64_t r = 0; r < n.rows; ++r)
        for (std::int64_t j = 0; j < n.d; ++j) dg[j] += g[r * n.d + j] * xh[r * n.d + j];
    }
    if (ctx.needs_grad(2)) kernels::add_column_sums(g, n.d, n.rows, n.d, ctx.grad_input(2).data<T>());  // dbeta
  });
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon) {
  if (x.rank() < 1 || x.size(-1) <= 0)
    throw ShapeError(fmt::format("layer_norm: input {}, expected [..., D] with D > 0", x.shape()));
  const std::int64_t d = x.size(-1);
  if (gamma.shape() != Shape{d} || beta.shape() != Shape{d})
    throw ShapeError(fmt::format("layer_norm: gamma {} and beta {} for input {}: expected [{}] each", gamma.shape(),
                                 beta.shape(), x.shape(), d));
  if (gamma.dtype() != x.dtype() || beta.dtype() != x.dtype())
    throw DTypeError(fmt::format("layer_norm: input is {}, gamma {}, beta {}; expected one dtype",
                                 dtype_name(x.dtype()), dtype_name(gamma.dtype()), dtype_name(beta.dtype())));
  if (!(epsilon >= 0)) throw ValueError(fmt::format("layer_norm: epsilon must be >= 0, got {}", epsilon));
  const NormDims n{x.numel() / d, d};
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor xhat = Tensor::empty({n.rows, d}, x.dtype());
  Tensor rstd = Tensor::empty({n.rows}, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* xp = x.data<T>();
    const T* gm = gamma.data<T>();
    const T* bt = beta.data<T>();
    T* yp = y.data<T>();
    T* xh = xhat.data<T>();
    T* rs = rstd.data<T>();
    const T inv_d = T(1) / static_cast<T>(d);
    for (std::int64_t r = 0; r < n.rows; ++r) {
      const T* xr = xp + r * d;
      T mean = 0;
      for (std::int64_t j = 0; j < d; ++j) mean += xr[j];
      mean *= inv_d;
      T var = 0;  // two passes: no cancellation for rows far from zero
      for (std::int64_t j = 0; j < d; ++j) var += (xr[j] - mean) * (xr[j] - mean);
      var *= inv_d;
      rs[r] = T(1) / std::sqrt(var + static_cast<T>(epsilon));
      for (std::int64_t j = 0; j < d; ++j) {
        xh[r * d + j] = (xr[j] - mean) * rs[r];
        yp[r * d + j] = xh[r * d + j] * gm[j] + bt[j];
      }
    }
  });
  if (NodeRef node = record("layer_norm", &layer_norm_backward, {&x, &gamma, &beta}, y))
    node.save(xhat).save(rstd).save(gamma).attrs(n);
  return y;
}

}  // namespace tg

#include "ops/rnn.h"

#include <fmt/format.h>

#include "core/tape.h"
#include "ops/kernels/gemm.h"
#include "ops/kernels/unary.h"

namespace tg {

namespace {
struct StepAttrs {
  std::int64_t t;
};

void check(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u) {
  if (xw.rank() != 3)
    throw ShapeError(fmt::format("rnn_tanh_step: projected inputs {} must be [batch, time, units]", xw.shape()));
  const std::int64_t b = xw.size(0), steps = xw.size(1), h = xw.size(2);
  if (t < 0 || t >= steps)
    throw ValueError(fmt::format("rnn_tanh_step: step {} out of range for {} time steps", t, steps));
  if (u.rank() != 2 || u.size(0) != h || u.size(1) != h)
    throw ShapeError(fmt::format("rnn_tanh_step: recurrent kernel {}, expected [{},{}]", u.shape(), h, h));
  if (h_prev.defined() && (h_prev.rank() != 2 || h_prev.size(0) != b || h_prev.size(1) != h))
    throw ShapeError(fmt::format("rnn_tanh_step: previous state {}, expected [{},{}]", h_prev.shape(), b, h));
  if (u.dtype() != xw.dtype() || (h_prev.defined() && h_prev.dtype() != xw.dtype()))
    throw DTypeError(fmt::format("rnn_tanh_step: inputs are {}, {} and {}; expected one dtype",
                                 dtype_name(xw.dtype()), h_prev.defined() ? dtype_name(h_prev.dtype()) : "none",
                                 dtype_name(u.dtype())));
}

void step_backward(BackwardContext& ctx) {
  const Tensor& h = ctx.saved(0);       // h_t [B,H]
  const Tensor& h_prev = ctx.saved(1);  // may be undefined
  const Tensor& u = ctx.saved(2);
  const std::int64_t t = ctx.attrs<StepAttrs>().t;
  const std::int64_t b = h.size(0), units = h.size(1);
  const std::int64_t steps = ctx.input_shape(0)[1];
  dispatch(h.dtype(), [&]<class T>() {
    // dz = dh (1 - h^2), the gradient at the pre-activation.
    Tensor dz = zeros(h.shape(), h.dtype());
    kernels::tanh_backward(h.data<T>(), ctx.grad_output().data<T>(), dz.data<T>(), h.numel());
    const T* dzp = dz.data<T>();
    if (ctx.needs_grad(0)) {  // d xw[:, t, :] += dz
      T* dxw = ctx.grad_input(0).data<T>() + t * units;
      for (std::int64_t i = 0; i < b; ++i)
        for (std::int64_t j = 0; j < units; ++j) dxw[i * steps * units + j] += dzp[i * units + j];
    }
    if (h_prev.defined() && ctx.needs_grad(1))  // dh_prev += dz U^T
      kernels::gemm(false, true, b, units, units, T(1), dzp, units, u.data<T>(), units, T(1),
                    ctx.grad_input(1).data<T>(), units);
    if (h_prev.defined() && ctx.needs_grad(2))  // dU += h_prev^T dz
      kernels::gemm(true, false, units, units, b, T(1), h_prev.data<T>(), units, dzp, units, T(1),
                    ctx.grad_input(2).data<T>(), units);
  });
}
}  // namespace

Tensor rnn_tanh_step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u) {
  check(xw, t, h_prev, u);
  const std::int64_t b = xw.size(0), steps = xw.size(1), units = xw.size(2);
  Tensor h = Tensor::empty({b, units}, xw.dtype());
  dispatch(xw.dtype(), [&]<class T>() {
    const T* src = xw.data<T>() + t * units;
    T* out = h.data<T>();
    for (std::int64_t i = 0; i < b; ++i)
      for (std::int64_t j = 0; j < units; ++j) out[i * units + j] = src[i * steps * units + j];
    if (h_prev.defined())  // z += h_prev U
      kernels::gemm(false, false, b, units, units, T(1), h_prev.data<T>(), units, u.data<T>(), units, T(1), out,
                    units);
    kernels::tanh_forward(out, out, h.numel());
  });
  if (NodeRef node = record("rnn_tanh_step", step_backward, {&xw, &h_prev, &u}, h))
    node.save(h).save(h_prev).save(u).attrs(StepAttrs{t});
  return h;
}

}  // namespace tg

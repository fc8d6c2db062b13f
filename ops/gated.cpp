#include <tapegrad/ops/gated.h>

#include <initializer_list>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/kernels/gated.h>
#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/rows.h>
#include <tapegrad/ops/matmul.h>
#include <tapegrad/ops/rnn.h>
#include <tapegrad/ops/shape_ops.h>
#include <tapegrad/ops/unary.h>

namespace tg {

namespace {
struct StepAttrs {
  std::int64_t t, steps;
};

// The units u of a gated step whose projected inputs xw are [B, T, gates * u], after checking
// every operand against them. `states` are the previous states ([B, u] each, undefined allowed).
std::int64_t check_step(const char* op, int gates, const Tensor& xw, std::int64_t t,
                        std::initializer_list<const Tensor*> states, const Tensor& u) {
  const std::int64_t units = detail::check_recurrent_operands(op, gates, xw, states, u, "previous");
  if (t < 0 || t >= xw.size(1))
    throw ValueError(fmt::format("{}: step {} out of range for {} time steps", op, t, xw.size(1)));
  return units;
}

// dst[r, :] (+)= xw[r, t, :] for the rows of a [B, T, n] tensor, dst [B, ldd].
template <class T>
void copy_step(const T* xw, std::int64_t t, std::int64_t b, std::int64_t steps, std::int64_t n, T* dst,
               std::int64_t ldd) {
  for (std::int64_t r = 0; r < b; ++r) {
    const T* src = xw + (r * steps + t) * n;
    for (std::int64_t j = 0; j < n; ++j) dst[r * ldd + j] = src[j];
  }
}

template <class T>
void add_to_step(const T* src, std::int64_t b, std::int64_t steps, std::int64_t n, std::int64_t t, T* dxw) {
  for (std::int64_t r = 0; r < b; ++r) {
    T* dst = dxw + (r * steps + t) * n;
    for (std::int64_t j = 0; j < n; ++j) dst[j] += src[r * n + j];
  }
}

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// ---- LSTM ---------------------------------------------------------------------------------------

void lstm_backward(BackwardContext& ctx) {
  const Tensor& gates = ctx.saved(0);  // [B, 5u]: i, f, g, o, tanh(c)
  const Tensor& h_prev = ctx.saved(1);
  const Tensor& c_prev = ctx.saved(2);
  const Tensor& u = ctx.saved(3);
  const std::int64_t t = ctx.attrs<StepAttrs>().t,
                     steps =
                         ctx.attrs<StepAttrs>().steps;  // no structured binding: lambdas capture it only from clang 16
  const std::int64_t b = gates.size(0), units = u.size(0), g4 = 4 * units;
  dispatch(gates.dtype(), [&]<class T>() {
    Tensor dz = Tensor::empty({b, g4}, gates.dtype());
    T* dc_prev = c_prev.defined() && ctx.needs_grad(2) ? ctx.grad_input(2).data<T>() : nullptr;
    kernels::lstm_gates_backward(gates.data<T>(), data_or_null<T>(c_prev), data_or_null<T>(ctx.grad_output(0)),
                                 data_or_null<T>(ctx.grad_output(1)), dz.data<T>(), dc_prev, b, units);
    const T* dzp = dz.data<T>();
    if (ctx.needs_grad(0)) add_to_step(dzp, b, steps, g4, t, ctx.grad_input(0).data<T>());
    if (h_prev.defined() && ctx.needs_grad(1))  // dh_prev[B,u] += dz[B,4u] U^T
      kernels::gemm(false, true, b, units, g4, T(1), dzp, g4, u.data<T>(), g4, T(1), ctx.grad_input(1).data<T>(),
                    units);
    if (h_prev.defined() && ctx.needs_grad(3))  // dU[u,4u] += h_prev^T dz
      kernels::gemm(true, false, units, g4, b, T(1), h_prev.data<T>(), units, dzp, g4, T(1),
                    ctx.grad_input(3).data<T>(), g4);
  });
}

// ---- GRU ----------------------------------------------------------------------------------------

void gru_backward(BackwardContext& ctx) {
  const Tensor& gates = ctx.saved(0);  // [B, 4u]: z, r, n, hn
  const Tensor& h_prev = ctx.saved(1);
  const Tensor& u = ctx.saved(2);
  const std::int64_t t = ctx.attrs<StepAttrs>().t,
                     steps =
                         ctx.attrs<StepAttrs>().steps;  // no structured binding: lambdas capture it only from clang 16
  const std::int64_t b = gates.size(0), units = u.size(0), g3 = 3 * units;
  dispatch(gates.dtype(), [&]<class T>() {
    Tensor dx = Tensor::empty({b, g3}, gates.dtype());
    Tensor dhu = Tensor::empty({b, g3}, gates.dtype());
    T* dh_prev = h_prev.defined() && ctx.needs_grad(1) ? ctx.grad_input(1).data<T>() : nullptr;
    kernels::gru_gates_backward(gates.data<T>(), data_or_null<T>(h_prev), ctx.grad_output(0).data<T>(), dx.data<T>(),
                                dhu.data<T>(), dh_prev, b, units);
    const T* dhup = dhu.data<T>();
    if (ctx.needs_grad(0)) add_to_step(dx.data<T>(), b, steps, g3, t, ctx.grad_input(0).data<T>());
    if (dh_prev)  // dh_prev[B,u] += dhu[B,3u] U^T
      kernels::gemm(false, true, b, units, g3, T(1), dhup, g3, u.data<T>(), g3, T(1), dh_prev, units);
    if (h_prev.defined() && ctx.needs_grad(2))  // dU[u,3u] += h_prev^T dhu
      kernels::gemm(true, false, units, g3, b, T(1), h_prev.data<T>(), units, dhup, g3, T(1),
                    ctx.grad_input(2).data<T>(), g3);
    if (ctx.needs_grad(3))  // the recurrent bias, row 1 of [2, 3u]: column sums of dhu
      kernels::add_column_sums(dhup, g3, b, g3, ctx.grad_input(3).data<T>() + g3);
  });
}

void check_gru_bias(const char* op, const Tensor& bias, const Tensor& xw, std::int64_t units) {
  if (bias.rank() != 2 || bias.size(0) != 2 || bias.size(1) != 3 * units)
    throw ShapeError(
        fmt::format("{}: bias {}, expected [2,{}] (input and recurrent rows)", op, bias.shape(), 3 * units));
  if (bias.dtype() != xw.dtype())
    throw DTypeError(fmt::format("{}: bias is {}, the projected inputs {}; expected one dtype", op,
                                 dtype_name(bias.dtype()), dtype_name(xw.dtype())));
}
}  // namespace

LSTMStepOutput lstm_step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& c_prev,
                         const Tensor& u) {
  const std::int64_t units = check_step("lstm_step", 4, xw, t, {&h_prev, &c_prev}, u);
  const std::int64_t b = xw.size(0), steps = xw.size(1), g4 = 4 * units;
  Tensor gates = Tensor::empty({b, 5 * units}, xw.dtype());
  LSTMStepOutput out{Tensor::empty({b, units}, xw.dtype()), Tensor::empty({b, units}, xw.dtype())};
  dispatch(xw.dtype(), [&]<class T>() {
    T* z = gates.data<T>();
    copy_step(xw.data<T>(), t, b, steps, g4, z, 5 * units);
    if (h_prev.defined())  // z[B,4u] += h_prev[B,u] U[u,4u]
      kernels::gemm(false, false, b, g4, units, T(1), h_prev.data<T>(), units, u.data<T>(), g4, T(1), z, 5 * units);
    kernels::lstm_gates_forward(z, data_or_null<T>(c_prev), out.c.data<T>(), out.h.data<T>(), b, units);
  });
  const Tensor* inputs[] = {&xw, &h_prev, &c_prev, &u};
  Tensor* outputs[] = {&out.h, &out.c};
  if (NodeRef node = tape().record("lstm_step", lstm_backward, inputs, outputs))
    node.save(gates).save(h_prev).save(c_prev).save(u).attrs(StepAttrs{t, steps});
  return out;
}

Tensor gru_step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u, const Tensor& bias) {
  const std::int64_t units = check_step("gru_step", 3, xw, t, {&h_prev}, u);
  check_gru_bias("gru_step", bias, xw, units);
  const std::int64_t b = xw.size(0), steps = xw.size(1), g3 = 3 * units;
  Tensor gates = Tensor::empty({b, 4 * units}, xw.dtype());
  Tensor h = Tensor::empty({b, units}, xw.dtype());
  dispatch(xw.dtype(), [&]<class T>() {
    T* hu = gates.data<T>();
    const T* b_rec = bias.data<T>() + g3;
    for (std::int64_t r = 0; r < b; ++r)
      for (std::int64_t j = 0; j < g3; ++j) hu[r * 4 * units + j] = b_rec[j];
    if (h_prev.defined())  // hu[B,3u] += h_prev[B,u] U[u,3u]
      kernels::gemm(false, false, b, g3, units, T(1), h_prev.data<T>(), units, u.data<T>(), g3, T(1), hu, 4 * units);
    kernels::gru_gates_forward(xw.data<T>() + t * g3, steps * g3, hu, data_or_null<T>(h_prev), h.data<T>(), b, units);
  });
  if (NodeRef node = record("gru_step", gru_backward, {&xw, &h_prev, &u, &bias}, h))
    node.save(gates).save(h_prev).save(u).attrs(StepAttrs{t, steps});
  return h;
}

LSTMStepOutput lstm_step_composed(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& c_prev,
                                  const Tensor& u) {
  const std::int64_t units = check_step("lstm_step_composed", 4, xw, t, {&h_prev, &c_prev}, u);
  Tensor z = select(xw, 1, t);
  if (h_prev.defined()) z = z + matmul(h_prev, u);
  Tensor i = sigmoid(slice(z, 1, 0, units));
  Tensor f = sigmoid(slice(z, 1, units, units));
  Tensor g = tanh(slice(z, 1, 2 * units, units));
  Tensor o = sigmoid(slice(z, 1, 3 * units, units));
  Tensor c = c_prev.defined() ? f * c_prev + i * g : i * g;
  return {o * tanh(c), c};
}

Tensor gru_step_composed(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u, const Tensor& bias) {
  const std::int64_t units = check_step("gru_step_composed", 3, xw, t, {&h_prev}, u);
  check_gru_bias("gru_step_composed", bias, xw, units);
  Tensor x = select(xw, 1, t);
  Tensor hu = select(bias, 0, 1);  // [3u], broadcast over the batch
  if (h_prev.defined()) hu = matmul(h_prev, u) + hu;
  Tensor z = sigmoid(slice(x, 1, 0, units) + slice(hu, -1, 0, units));
  Tensor r = sigmoid(slice(x, 1, units, units) + slice(hu, -1, units, units));
  Tensor n = tanh(slice(x, 1, 2 * units, units) + r * slice(hu, -1, 2 * units, units));
  return h_prev.defined() ? z * h_prev + (1.0 - z) * n : (1.0 - z) * n;
}

}  // namespace tg

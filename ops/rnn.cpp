#include "ops/rnn.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "core/tape.h"
#include "ops/kernels/gemm.h"
#include "ops/kernels/rows.h"
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
    // dz = dh (1 - h^2), the gradient at the pre-activation, in dh's buffer.
    Tensor dz = ctx.writable_grad_output();
    kernels::tanh_grad_inplace(h.data<T>(), dz.data<T>(), h.numel());
    const T* dzp = dz.data<T>();
    if (ctx.needs_grad(0)) {  // d xw[:, t, :] += dz
      T* dxw = ctx.grad_input(0).data<T>() + t * units;
      for (std::int64_t i = 0; i < b; ++i)
        for (std::int64_t j = 0; j < units; ++j) dxw[i * steps * units + j] += dzp[i * units + j];
    }
    if (h_prev.defined() && ctx.needs_grad(1)) {  // dh_prev (+)= dz U^T
      auto [dh_prev, first] = ctx.grad_target(1);
      kernels::gemm(false, true, b, units, units, T(1), dzp, units, u.data<T>(), units, first ? T(0) : T(1),
                    dh_prev.data<T>(), units);
    }
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
    kernels::copy_rows(src, steps * units, out, units, b, units);
    if (h_prev.defined())  // z += h_prev U
      kernels::gemm(false, false, b, units, units, T(1), h_prev.data<T>(), units, u.data<T>(), units, T(1), out,
                    units);
    kernels::tanh_forward(out, out, h.numel());
  });
  if (NodeRef node = record("rnn_tanh_step", step_backward, {&xw, &h_prev, &u}, h))
    node.save(h).save(h_prev).save(u).attrs(StepAttrs{t});
  return h;
}

// ---- the scan ---------------------------------------------------------------------------------

namespace detail {
// What the steps of one sequence share. Reused by the next sequence when no recording holds it.
struct RnnScanState {
  Tensor xw, u;              // detached aliases of the sequence's inputs
  Tensor packed_u;           // U packed for h_prev U (B rows)
  Tensor packed_ut;          // U^T packed for dz U^T
  Tensor h_prev_all;         // [T,B,H]: h_{t-1} of every recorded step (zeros for none), for dU;
                             // step t writes its output to row block t + 1 as it computes it
  Tensor dz_all;             // [T,B,H]: dz_t left by the steps' backward rules
  std::vector<std::uint8_t> stepped, written;
  // The last step's output, which the next step must read to continue the chain (with its slot
  // when recorded: an address alone may be reused by another tensor).
  const TensorImpl* last = nullptr;
  std::uint32_t last_slot = kNoSlot;
  std::int64_t last_t = -1;
  std::int64_t batch = 0, steps = 0, units = 0;
  bool grad_mode = false;  // recording was on at the first step
  bool recording = false;  // the first step was recorded: later ones leave dz_t for it
};
}  // namespace detail

namespace {
struct ScanStepAttrs {
  std::int64_t t;
  std::uint32_t state;  // index of the kept RnnScanState
  bool first;           // the sequence's first step: sums dU and d xw over all steps
};

// Makes `t` a buffer of `shape` and `dtype`, keeping the current one when it fits.
void ensure(Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined() || t.dtype() != dtype || t.shape() != shape) t = Tensor::empty(shape, dtype);
}

// The weight and input gradients of every step of the sequence, from the dz_t its steps left.
template <class T>
void scan_reduce(BackwardContext& ctx, detail::RnnScanState& st) {
  const std::int64_t b = st.batch, steps = st.steps, units = st.units, n = b * units;
  T* dz = st.dz_all.data<T>();
  T* hp = st.h_prev_all.data<T>();
  // Steps the gradient did not reach (or that were never taken) add nothing.
  for (std::int64_t t = 0; t < steps; ++t) {
    if (st.written[static_cast<std::size_t>(t)]) continue;
    std::fill_n(dz + t * n, n, T(0));
    if (!st.stepped[static_cast<std::size_t>(t)]) std::fill_n(hp + t * n, n, T(0));
  }
  if (ctx.needs_grad(2))  // dU += sum_t h_{t-1}^T dz_t: [H, T*B] x [T*B, H]
    kernels::gemm(true, false, units, units, steps * b, T(1), hp, units, dz, units, T(1),
                  ctx.grad_input(2).data<T>(), units);
  if (ctx.needs_grad(0)) {  // d xw[:, t, :] = dz_t
    Tensor dxw = Tensor::empty({b, steps, units}, st.xw.dtype());
    T* out = dxw.data<T>();
    for (std::int64_t t = 0; t < steps; ++t) kernels::copy_rows(dz + t * n, units, out + t * units, steps * units, b, units);
    ctx.accumulate(0, std::move(dxw));
  }
  std::fill(st.written.begin(), st.written.end(), std::uint8_t{0});
}

void scan_step_backward(BackwardContext& ctx) {
  const ScanStepAttrs& a = ctx.attrs<ScanStepAttrs>();
  auto& st = *static_cast<detail::RnnScanState*>(ctx.object(a.state));
  const Tensor& h = ctx.saved(0);
  const std::int64_t b = st.batch, units = st.units, n = b * units;
  ensure(st.dz_all, {st.steps, b, units}, h.dtype());
  dispatch(h.dtype(), [&]<class T>() {
    T* dz = st.dz_all.data<T>() + a.t * n;  // dz_t = dh_t (1 - h_t^2)
    const T* hv = h.data<T>();
    const T* dh = ctx.grad_output().data<T>();
    for (std::int64_t i = 0; i < n; ++i) dz[i] = dh[i] * (T(1) - hv[i] * hv[i]);
    st.written[static_cast<std::size_t>(a.t)] = 1;
    if (ctx.needs_grad(1)) {  // dh_prev (+)= dz U^T
      auto [dh_prev, first] = ctx.grad_target(1);
      kernels::gemm_packed_b(false, b, units, units, T(1), dz, units, st.packed_ut.data<T>(), first ? T(0) : T(1),
                             dh_prev.data<T>(), units);
    }
    if (a.first) scan_reduce<T>(ctx, st);
  });
}
}  // namespace

void RnnTanhScan::begin(const Tensor& xw, const Tensor& u) {
  // A recording that still holds the state (retain_graph, or a graph not yet differentiated)
  // keeps it; the new sequence takes fresh buffers.
  if (!state_ || state_.use_count() > 1) state_ = std::make_shared<detail::RnnScanState>();
  detail::RnnScanState& st = *state_;
  const DType dt = xw.dtype();
  st.batch = xw.size(0);
  st.steps = xw.size(1);
  st.units = xw.size(2);
  st.xw = xw.detach();
  st.u = u.detach();
  st.stepped.assign(static_cast<std::size_t>(st.steps), 0);
  st.written.assign(static_cast<std::size_t>(st.steps), 0);
  st.last = nullptr;
  st.last_slot = detail::kNoSlot;
  st.last_t = -1;
  st.grad_mode = grad_enabled();
  st.recording = false;
  const std::int64_t b = st.batch, h = st.units;
  dispatch(dt, [&]<class T>() {
    const Shape packed{kernels::packed_b_size<T>(b, h, h)};
    ensure(st.packed_u, packed, dt);
    ensure(st.packed_ut, packed, dt);
    kernels::pack_b_for(false, b, h, h, u.data<T>(), h, st.packed_u.data<T>());
    kernels::pack_b_for(true, b, h, h, u.data<T>(), h, st.packed_ut.data<T>());
  });
}

bool RnnTanhScan::continues(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u) const {
  const detail::RnnScanState& st = *state_;
  return xw.impl()->storage == st.xw.impl()->storage && xw.shape() == st.xw.shape() &&
         u.impl()->storage == st.u.impl()->storage && u.dtype() == st.u.dtype() &&
         t == st.last_t + 1 && st.last != nullptr && h_prev.impl() == st.last &&
         grad_enabled() == st.grad_mode &&
         (!st.recording || (Tape::current().tracked(st.last) && st.last->slot == st.last_slot));
}

Tensor RnnTanhScan::step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u) {
  check(xw, t, h_prev, u);
  // Another xw begins a new chain (the state holds the last xw's storage, so the same storage
  // means the same sequence). Within a sequence, a step that does not continue the chain (a
  // masked or reversed scan, a repeated step, a detached state) is an ordinary step.
  // Step 0 from no state, after steps of the same xw, is a new pass over it (the same batch fed
  // twice); a reversed scan reaches step 0 with a state and stays on its chain's terms.
  bool first = false;
  if (!state_ || !state_->xw.defined() || xw.impl()->storage != state_->xw.impl()->storage ||
      xw.shape() != state_->xw.shape() || (t == 0 && !h_prev.defined() && state_->last_t >= 0)) {
    begin(xw, u);
    first = true;
  } else if (!continues(xw, t, h_prev, u)) {
    return rnn_tanh_step(xw, t, h_prev, u);
  }
  detail::RnnScanState& st = *state_;
  st.stepped[static_cast<std::size_t>(t)] = 1;
  const std::int64_t b = st.batch, steps = st.steps, units = st.units, n = b * units;
  // A recorded chain keeps h_t for the next step's share of dU, written by the tanh pass.
  const bool keep_next = !first && st.recording && t + 1 < steps;
  Tensor h = Tensor::empty({b, units}, xw.dtype());
  dispatch(h.dtype(), [&]<class T>() {
    const T* src = xw.data<T>() + t * units;  // xw[:, t, :], rows steps * units apart
    T* out = h.data<T>();
    if (h_prev.defined()) {  // z = h_prev U + xw_t
      kernels::gemm_packed_b(false, b, units, units, T(1), h_prev.data<T>(), units, st.packed_u.data<T>(), T(0),
                             out, units);
      kernels::add_rows(src, steps * units, out, units, b, units);
    } else {
      kernels::copy_rows(src, steps * units, out, units, b, units);
    }
    if (keep_next)
      kernels::tanh_forward2(out, out, st.h_prev_all.data<T>() + (t + 1) * n, n);
    else
      kernels::tanh_forward(out, out, n);
  });
  st.last = h.impl();
  st.last_t = t;
  if (!first && !st.recording) {  // a chain nothing records: at most an ordinary node
    if (NodeRef node = record("rnn_tanh_step", step_backward, {&xw, &h_prev, &u}, h))
      node.save(h).save(h_prev).save(u).attrs(StepAttrs{t});
    return h;
  }
  NodeRef node = record("rnn_tanh_step", scan_step_backward, {&xw, &h_prev, &u}, h);
  if (!node) return h;
  st.last_slot = h.impl()->slot;
  node.save(h);
  node.attrs(ScanStepAttrs{t, node.keep(state_), first});
  if (first) {  // the chain's start: h_prev (or zeros) for this step, h_t for the next
    st.recording = true;
    ensure(st.h_prev_all, {steps, b, units}, xw.dtype());
    dispatch(h.dtype(), [&]<class T>() {
      T* rows = st.h_prev_all.data<T>();
      if (h_prev.defined())
        kernels::copy_rows(h_prev.data<T>(), n, rows + t * n, n, 1, n);
      else
        std::fill_n(rows + t * n, n, T(0));
      if (t + 1 < steps) kernels::copy_rows(h.data<T>(), n, rows + (t + 1) * n, n, 1, n);
    });
  }
  return h;
}

}  // namespace tg

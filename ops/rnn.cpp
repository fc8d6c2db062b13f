#include <tapegrad/ops/rnn.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/rows.h>
#include <tapegrad/ops/kernels/unary.h>
#include <tapegrad/ops/shape_ops.h>

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
    throw DTypeError(fmt::format("rnn_tanh_step: inputs are {}, {} and {}; expected one dtype", dtype_name(xw.dtype()),
                                 h_prev.defined() ? dtype_name(h_prev.dtype()) : "none", dtype_name(u.dtype())));
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
    if (h_prev.defined())  // z = h_prev U + xw_t
      kernels::gemm(false, false, b, units, units, T(1), h_prev.data<T>(), units, u.data<T>(), units, T(0), out, units,
                    src, steps * units);
    else
      kernels::copy_rows(src, steps * units, out, units, b, units);
    kernels::tanh_forward(out, out, h.numel());
  });
  if (NodeRef node = record("rnn_tanh_step", step_backward, {&xw, &h_prev, &u}, h))
    node.save(h).save(h_prev).save(u).attrs(StepAttrs{t});
  return h;
}

// ---- the scan ---------------------------------------------------------------------------------

namespace detail {
// What the steps of one sequence share. Reused by the next sequence when no recording holds it.
// The chain is the run of steps t0, t0 + 1, ..., last_t, each reading the previous one's output.
struct RnnScanState {
  Tensor xw, u;                         // detached aliases of the sequence's inputs
  Tensor h_init;                        // h_prev of the chain's first step (undefined: zeros)
  Tensor packed_u;                      // U packed for h_prev U (B rows)
  Tensor packed_ut;                     // U^T packed for dz U^T
  kernels::PackedPlan<float> plan_f32;  // both products, [B,H] x [H,H], planned once
  kernels::PackedPlan<double> plan_f64;
  Tensor seq;                            // [B,T,H]: h_t of each step of the chain at [:, t, :], written as it is
                                         // computed: the sequence output, and (a step behind) the h_{t-1} of dU
  Tensor dz;                             // [B,T,H]: dz_t at [:, t, :], left by the steps' rules; becomes d xw
  Tensor dseq;                           // the sequence output's gradient, while a backward walks the chain
  Tensor aside;                          // [B,H]: rows of dz set aside during the dU product
  std::vector<const TensorImpl*> outs;   // each step's output, and its slot when recorded: an
  std::vector<std::uint32_t> out_slots;  // address alone may be reused by another tensor
  std::vector<std::uint8_t> stepped, written;
  std::int64_t t0 = -1, last_t = -1;
  std::int64_t batch = 0, steps = 0, units = 0;
  bool grad_mode = false;  // recording was on at the first step
  bool recording = false;  // the first step was recorded: later ones leave dz_t for it
  std::uint32_t kept = 0;  // the recording's index of this state (NodeRef::keep), once per chain
};
}  // namespace detail

namespace {
template <class T>
const kernels::PackedPlan<T>& plan(const detail::RnnScanState& st) {
  if constexpr (std::is_same_v<T, float>)
    return st.plan_f32;
  else
    return st.plan_f64;
}

struct ScanStepAttrs {
  std::int64_t t;
  std::uint32_t state;  // index of the kept RnnScanState
  bool first;           // the chain's first step: sums dU and d xw over all steps
};

// Makes `t` a buffer of `shape` and `dtype`, keeping the current one when it fits and nothing
// else holds it.
void ensure(Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined() || t.dtype() != dtype || t.shape() != shape || !t.impl()->refs.unique() ||
      !t.impl()->storage->unique())
    t = Tensor::empty(shape, dtype);
}

// Zeros rows [:, t, :] of a [B,T,H] buffer.
template <class T>
void zero_step(T* buf, std::int64_t t, std::int64_t b, std::int64_t steps, std::int64_t units) {
  for (std::int64_t i = 0; i < b; ++i) std::fill_n(buf + (i * steps + t) * units, units, T(0));
}

// The weight and input gradients of every step of the chain, from the dz_t its steps left.
template <class T>
void scan_reduce(BackwardContext& ctx, detail::RnnScanState& st) {
  const std::int64_t b = st.batch, steps = st.steps, units = st.units, row = steps * units;
  T* dz = st.dz.data<T>();
  T* seq = st.seq.data<T>();
  // Steps the gradient did not reach add nothing; steps never taken have no h_t to pair with.
  for (std::int64_t t = 0; t < steps; ++t) {
    if (!st.written[static_cast<std::size_t>(t)]) zero_step(dz, t, b, steps, units);
    if (!st.stepped[static_cast<std::size_t>(t)]) zero_step(seq, t, b, steps, units);
  }
  // No step of the chain read a state when it is a single step from zeros: U then has no gradient.
  if (ctx.needs_grad(2) && (st.last_t > st.t0 || st.h_init.defined())) {
    // dU += sum_t h_{t-1}^T dz_t. Seen as B*T rows, row r of dz pairs with row r - 1 of the
    // sequence (h_{t-1} of the same batch row), except at t = 0, where it would pair with the
    // previous batch row's last step: those dz rows are set aside and zeroed for one GEMM
    // [H, B*T-1] x [B*T-1, H]; h_prev of the chain's first step is added on its own.
    T* dU = ctx.grad_input(2).data<T>();
    ensure(st.aside, {b, units}, st.dz.dtype());
    T* aside = st.aside.data<T>();
    kernels::copy_rows(dz, row, aside, units, b, units);
    zero_step(dz, 0, b, steps, units);
    kernels::gemm(true, false, units, units, b * steps - 1, T(1), seq, units, dz + units, units, T(1), dU, units);
    kernels::copy_rows(aside, units, dz, row, b, units);
    if (st.h_init.defined())  // h_prev^T dz_{t0}
      kernels::gemm(true, false, units, units, b, T(1), st.h_init.data<T>(), units, dz + st.t0 * units, row, T(1), dU,
                    units);
  }
  if (ctx.needs_grad(0)) ctx.accumulate(0, std::move(st.dz));  // d xw[:, t, :] = dz_t, as laid out
  std::fill(st.written.begin(), st.written.end(), std::uint8_t{0});
  st.dseq = Tensor();
}

void scan_step_backward(BackwardContext& ctx) {
  const ScanStepAttrs& a = ctx.attrs<ScanStepAttrs>();
  auto& st = *static_cast<detail::RnnScanState*>(ctx.object(a.state));
  const Tensor& h = ctx.saved(0);
  const std::int64_t b = st.batch, steps = st.steps, units = st.units, row = steps * units;
  ensure(st.dz, {b, steps, units}, h.dtype());
  dispatch(h.dtype(), [&]<class T>() {
    // dz_t = dh_t (1 - h_t^2), rows `row` apart. dh_t holds all of the sequence output's share
    // dY[:, t, :]: step t + 1's rule added it below, the sequence rule passed the last step's.
    T* dz = st.dz.data<T>() + a.t * units;
    kernels::tanh_grad_spread_rows(ctx.grad_output().data<T>(), h.data<T>(), dz, row, b, units);
    st.written[static_cast<std::size_t>(a.t)] = 1;
    if (ctx.needs_grad(1)) {  // dh_prev (+)= dz U^T (+ dY[:, t - 1, :], added as the tiles are written)
      // With a sequence output every step from 0 is in the chain, so h_prev is step t - 1's output.
      const T* ds = st.dseq.defined() && a.t > 0 ? st.dseq.data<T>() + (a.t - 1) * units : nullptr;
      auto [dh_prev, first] = ctx.grad_target(1);
      kernels::gemm_planned(plan<T>(st), dz, row, st.packed_ut.data<T>(), first ? T(0) : T(1), dh_prev.data<T>(), units,
                            ds, row);
    }
    if (a.first) scan_reduce<T>(ctx, st);
  });
}

// The sequence output's rule: keeps dY for the steps' rules (step t adds dY[:, t-1, :] to the
// gradient of h_{t-1}), and passes the last step its share through the tape, so that the walk
// reaches the chain.
void scan_sequence_backward(BackwardContext& ctx) {
  auto& st = *static_cast<detail::RnnScanState*>(ctx.object(ctx.attrs<std::uint32_t>()));
  st.dseq = ctx.take_grad_output();
  const int last = static_cast<int>(st.steps - 1);
  if (!ctx.needs_grad(last)) return;
  const BackwardContext::GradTarget target = ctx.grad_target(last);
  const std::int64_t units = st.units, row = st.steps * units;
  dispatch(st.dseq.dtype(), [&]<class T>() {
    kernels::copy_or_add_rows(st.dseq.data<T>() + last * units, row, target.buffer.data<T>(), units, st.batch, units,
                              !target.first);
  });
}
}  // namespace

void RnnTanhScan::begin(State& state, const Tensor& xw, const Tensor& u) {
  // A recording that still holds the state (retain_graph, or a graph not yet differentiated)
  // keeps it; the new sequence takes fresh buffers.
  if (!state || state.use_count() > 1) state = std::make_shared<detail::RnnScanState>();
  detail::RnnScanState& st = *state;
  const DType dt = xw.dtype();
  st.batch = xw.size(0);
  st.steps = xw.size(1);
  st.units = xw.size(2);
  st.xw = xw.detach();
  st.u = u.detach();
  st.h_init = Tensor();
  st.dseq = Tensor();
  const auto steps = static_cast<std::size_t>(st.steps);
  st.stepped.assign(steps, 0);
  st.written.assign(steps, 0);
  st.outs.assign(steps, nullptr);
  st.out_slots.assign(steps, detail::kNoSlot);
  st.t0 = -1;
  st.last_t = -1;
  st.grad_mode = grad_enabled();
  st.recording = false;
  const std::int64_t b = st.batch, h = st.units;
  ensure(st.seq, xw.shape(), dt);  // a new one when the last sequence output is still alive
  dispatch(dt, [&]<class T>() {
    const Shape packed{kernels::packed_b_size<T>(b, h, h)};
    ensure(st.packed_u, packed, dt);
    ensure(st.packed_ut, packed, dt);
    kernels::pack_b_for(false, b, h, h, u.data<T>(), h, st.packed_u.data<T>());
    kernels::pack_b_for(true, b, h, h, u.data<T>(), h, st.packed_ut.data<T>());
  });
  if (dt == DType::f32)
    st.plan_f32 = kernels::plan_packed_b<float>(b, h, h);
  else
    st.plan_f64 = kernels::plan_packed_b<double>(b, h, h);
}

bool RnnTanhScan::is_output(const detail::RnnScanState& st, const Tensor& h, std::int64_t t) {
  const detail::TensorImpl* impl = h.impl();
  return impl != nullptr && impl == st.outs[static_cast<std::size_t>(t)] &&
         (!st.recording ||
          (Tape::current().tracked(impl) && impl->slot() == st.out_slots[static_cast<std::size_t>(t)]));
}

bool RnnTanhScan::continues(const detail::RnnScanState& st, const Tensor& xw, std::int64_t t, const Tensor& h_prev,
                            const Tensor& u) {
  return xw.impl()->storage == st.xw.impl()->storage && xw.shape() == st.xw.shape() &&
         u.impl()->storage == st.u.impl()->storage && u.dtype() == st.u.dtype() && st.last_t >= 0 &&
         t == st.last_t + 1 && grad_enabled() == st.grad_mode && is_output(st, h_prev, st.last_t);
}

RnnTanhScan::State* RnnTanhScan::cache() {
  std::uint32_t me = detail::t_home_id;
  if (caches_[0].home.load(std::memory_order_acquire) == me) [[likely]]
    return &caches_[0].state;  // the thread that stepped through the scan first, usually the only one
  if (me == detail::kNoHome) me = detail::current_home_id();
  for (ThreadCache& c : caches_) {
    std::uint32_t home = c.home.load(std::memory_order_acquire);
    if (home == me) return &c.state;
    // A home passes to the next thread when its thread ends: so does its cache.
    if (home == 0 && c.home.compare_exchange_strong(home, me, std::memory_order_acq_rel)) return &c.state;
  }
  return nullptr;
}

Tensor RnnTanhScan::step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u) {
  check(xw, t, h_prev, u);
  State* mine = cache();
  if (!mine) return rnn_tanh_step(xw, t, h_prev, u);
  State& state = *mine;
  // Another xw begins a new chain (the state holds the last xw's storage, so the same storage
  // means the same sequence). Within a sequence, a step that does not continue the chain (a
  // masked or reversed scan, a repeated step, a detached state) is an ordinary step.
  // Step 0 from no state, after steps of the same xw, is a new pass over it (the same batch fed
  // twice); a reversed scan reaches step 0 with a state and stays on its chain's terms.
  bool first = false;
  if (!state || !state->xw.defined() || xw.impl()->storage != state->xw.impl()->storage ||
      xw.shape() != state->xw.shape() || (t == 0 && !h_prev.defined() && state->last_t >= 0)) {
    begin(state, xw, u);
    first = true;
  } else if (!continues(*state, xw, t, h_prev, u)) {
    return rnn_tanh_step(xw, t, h_prev, u);
  }
  detail::RnnScanState& st = *state;
  const auto ts = static_cast<std::size_t>(t);
  st.stepped[ts] = 1;
  const std::int64_t b = st.batch, steps = st.steps, units = st.units;
  Tensor h = Tensor::empty({b, units}, xw.dtype());
  dispatch(h.dtype(), [&]<class T>() {
    const T* src = xw.data<T>() + t * units;  // xw[:, t, :], rows steps * units apart
    T* out = h.data<T>();
    if (h_prev.defined()) {  // z = h_prev U + xw_t, xw_t added as the tiles are written
      kernels::gemm_planned(plan<T>(st), h_prev.data<T>(), units, st.packed_u.data<T>(), T(0), out, units, src,
                            steps * units);
    } else {
      kernels::copy_rows(src, steps * units, out, units, b, units);
    }
    kernels::tanh_forward_spread(out, out, st.seq.data<T>() + t * units, steps * units, b, units);  // and seq[:, t, :]
  });
  st.outs[ts] = h.impl();
  st.last_t = t;
  if (first) {
    st.t0 = t;
    if (h_prev.defined()) st.h_init = h_prev.detach();
  }
  if (!first && !st.recording) {  // a chain nothing records: at most an ordinary node
    if (NodeRef node = record("rnn_tanh_step", step_backward, {&xw, &h_prev, &u}, h))
      node.save(h).save(h_prev).save(u).attrs(StepAttrs{t});
    return h;
  }
  NodeRef node = record("rnn_tanh_step", scan_step_backward, {&xw, &h_prev, &u}, h);
  if (!node) return h;
  st.out_slots[ts] = h.impl()->slot();
  node.save(h);
  // The chain's steps share the first one's handle on the state: they are in its recording.
  if (first) st.kept = node.keep(state);
  node.attrs(ScanStepAttrs{t, st.kept, first});
  if (first) st.recording = true;
  return h;
}

Tensor RnnTanhScan::sequence(std::span<const Tensor> outputs) {
  State* mine = cache();
  if (!mine) return stack(outputs, 1);
  State& state = *mine;
  // The chain's own sequence only when `outputs` are its steps 0 .. T-1 in order.
  bool whole = state && state->t0 == 0 && state->last_t + 1 == state->steps &&
               static_cast<std::int64_t>(outputs.size()) == state->steps;
  for (std::size_t t = 0; whole && t < outputs.size(); ++t)
    whole = is_output(*state, outputs[t], static_cast<std::int64_t>(t));
  if (!whole) return stack(outputs, 1);
  Tensor out = state->seq.detach();  // its own tensor on the buffer the steps wrote
  if (NodeRef node = record("rnn_tanh_sequence", scan_sequence_backward, outputs, std::span<Tensor>(&out, 1)))
    node.attrs(node.keep(state));
  return out;
}

}  // namespace tg

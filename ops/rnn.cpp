#include <tapegrad/ops/rnn.h>

#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/kernels/gated.h>
#include <tapegrad/ops/kernels/gemm.h>
#include <tapegrad/ops/kernels/parallel.h>
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

// ---- the scans ----------------------------------------------------------------------------------

namespace {
enum class CellKind : std::uint8_t { tanh, lstm, gru };

// What the steps of one scan share. A recorded scan's nodes keep it until they are freed; then it
// goes back to its thread's reuse list (acquire_state), buffers and all.
struct ScanState {
  CellKind cell = CellKind::tanh;
  std::int64_t batch = 0, steps = 0, units = 0, width = 0;  // width G: the columns of xw (u, 4u, 3u)
  std::int64_t first_t = 0;                                 // time of the first step run (T-1 reversed)
  bool reverse = false;
  Tensor h_init;     // h0, detached (undefined: zeros)
  Tensor packed_u;   // U packed for h_{t-1} U, [B,u] x [u,G]
  Tensor packed_ut;  // U^T packed for dz_t U^T, [B,G] x [G,u] (recorded scans)
  kernels::PackedPlan<float> fwd_f32, bwd_f32;
  kernels::PackedPlan<double> fwd_f64, bwd_f64;
  Tensor seq;                         // [B,T,u]: h_t at [:, t, :]
  Tensor gates;                       // [T,B,5u] (LSTM) or [T,B,4u] (GRU): activations per step
  Tensor dz;                          // [B,T,G]: dz_t at [:, t, :], left by the rules; becomes d xw
  Tensor dhu;                         // GRU: [B,T,3u], the gradient of h_{t-1} U + bias[1]
  Tensor dseq;                        // the sequence output's gradient, while a backward runs
  Tensor aside;                       // [B,G]: rows of dz set aside during the dU product
  std::vector<std::uint8_t> written;  // step t's rule left dz_t
  // A scan large enough for the pool (scan_parallel): U and U^T packed in column shards instead
  // of packed_u, packed_ut, and the steps' gate math in blocks of `row_block` rows.
  bool parallel = false;
  std::int64_t row_block = 0;
  kernels::ShardedPackedB<float> fwd_sh_f32, bwd_sh_f32;
  kernels::ShardedPackedB<double> fwd_sh_f64, bwd_sh_f64;
};

// A scan runs its steps on the pool when a step's product has at least this many multiply-adds
// (b * u * G) and B is wide enough for two column shards: large_rnn's 64 x 256 x 256 step (2^22)
// does, the seed workloads' (batch 32, 20 units: at most 32 x 20 x 80) stay on the calling thread
// on the code they always ran. Chosen from the shape only, so the results are those of any thread
// count.
constexpr std::int64_t kScanParallelMacs = std::int64_t{1} << 20;
// The step's elementwise work (gate math, tanh gradient) on the pool: blocks of at least this many
// values, at most kMaxRowBlocks of them.
constexpr std::int64_t kScanBlockValues = std::int64_t{1} << 12;
constexpr std::int64_t kMaxRowBlocks = 8;

bool scan_parallel(std::int64_t b, std::int64_t units, std::int64_t g) {
  return b * units * g >= kScanParallelMacs && g >= 2 * kernels::ShardedPackedB<float>::kShardColumns;
}

std::int64_t scan_row_block(std::int64_t b, std::int64_t units) {
  return std::max((kScanBlockValues + units - 1) / units, (b + kMaxRowBlocks - 1) / kMaxRowBlocks);
}

// fn(r0, r1) over the rows of the batch: once over all of them for a serial scan, else over
// blocks of st.row_block rows on the pool. The blocks come from the shape, so every row is
// computed by the same kernel call whatever the thread count.
template <class F>
void for_rows(const ScanState& st, F&& fn) {
  if (!st.parallel) {
    fn(std::int64_t{0}, st.batch);
    return;
  }
  const std::int64_t rb = st.row_block, blocks = (st.batch + rb - 1) / rb;
  kernels::parallel_for(blocks, 1, [&](std::int64_t s0, std::int64_t s1) {
    for (std::int64_t s = s0; s < s1; ++s) fn(s * rb, std::min(st.batch, (s + 1) * rb));
  });
}

template <class T>
kernels::ShardedPackedB<T>& fwd_sharded(ScanState& st) {
  if constexpr (std::is_same_v<T, float>)
    return st.fwd_sh_f32;
  else
    return st.fwd_sh_f64;
}

template <class T>
kernels::ShardedPackedB<T>& bwd_sharded(ScanState& st) {
  if constexpr (std::is_same_v<T, float>)
    return st.bwd_sh_f32;
  else
    return st.bwd_sh_f64;
}

// The scan states of this thread. One is free when nothing but this list holds it.
thread_local std::vector<std::shared_ptr<ScanState>> t_scan_states;

std::shared_ptr<ScanState> acquire_state() {
  for (const std::shared_ptr<ScanState>& s : t_scan_states)
    if (s.use_count() == 1) return s;
  return t_scan_states.emplace_back(std::make_shared<ScanState>());
}

template <class T>
const kernels::PackedPlan<T>& fwd_plan(const ScanState& st) {
  if constexpr (std::is_same_v<T, float>)
    return st.fwd_f32;
  else
    return st.fwd_f64;
}

template <class T>
const kernels::PackedPlan<T>& bwd_plan(const ScanState& st) {
  if constexpr (std::is_same_v<T, float>)
    return st.bwd_f32;
  else
    return st.bwd_f64;
}

struct ScanStepAttrs {
  std::int64_t t;
  std::uint32_t state;  // index of the kept ScanState
  bool first;           // the scan's first step: sums dU (and d xw, d bias) over all steps
  bool checks_saved;    // saved U, the sequence buffer and, on the first step, h0 (after the LSTM
                        // step's c_{t-1}): the rule checks that none was written in place (the
                        // sequence output is that buffer, the tanh and GRU steps read h_t or h_{t-1}
                        // there, and the first step's rule reads h0 for dU)
};

// Makes `t` a buffer of `shape` and `dtype`, keeping the current one when it fits and nothing
// else holds it.
void ensure(Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined() || t.dtype() != dtype || t.shape() != shape || !t.impl()->refs.unique() ||
      !t.impl()->storage->unique())
    t = Tensor::empty(shape, dtype);
}

// Asks for the cache lines of `rows` rows of `cols` values, `stride` apart: the next step's rows
// of a [B,T,n] buffer (each in its own lines, T * n values apart), which a step reads as its
// GEMM's bias and would otherwise wait for, row after row, at the end of each tile.
// With `write`, for lines about to be written (dz_t in the backward). Rows narrower than a line
// are left to the hardware (a SimpleRNN(1)'s 32 rows of one value: the loop cost its steps 5 %).
template <class T>
void prefetch_rows(const T* p, std::int64_t stride, std::int64_t rows, std::int64_t cols, bool write = false) {
  constexpr std::int64_t kLine = 64 / sizeof(T);
  if (cols < kLine) return;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; j += kLine) {
      if (write)
        __builtin_prefetch(p + i * stride + j, 1);
      else
        __builtin_prefetch(p + i * stride + j);
    }
}

// Zeros rows [:, t, :] of a [B,T,n] buffer.
template <class T>
void zero_step(T* buf, std::int64_t t, std::int64_t b, std::int64_t steps, std::int64_t n) {
  for (std::int64_t i = 0; i < b; ++i) std::fill_n(buf + (i * steps + t) * n, n, T(0));
}

// The units of a scan of `op` over xw [B, T, gates * u], after checking every operand.
std::int64_t check_scan(const char* op, int gates, const Tensor& xw, std::initializer_list<const Tensor*> states,
                        const Tensor& u) {
  const std::int64_t units = detail::check_recurrent_operands(op, gates, xw, states, u, "initial");
  if (xw.size(1) == 0) throw ValueError(fmt::format("{}: projected inputs {} have no time steps", op, xw.shape()));
  return units;
}

// dh_prev (+)= dw_t U^T, plus the sequence's share dY[:, t', :] of h_prev (t' the time of the step
// before), added as the tiles are written. dw_t [B,G] has rows `steps * G` apart. Returns the
// buffer, or null when h_prev needs no gradient.
// `epilogue(dh_prev, j0, j1)` then runs on columns [j0, j1) of dh_prev (on the thread that wrote
// them, in a parallel scan).
template <class T, class F>
T* to_prev(BackwardContext& ctx, ScanState& st, const ScanStepAttrs& a, const T* dw, F&& epilogue) {
  if (!ctx.needs_grad(1)) return nullptr;
  const std::int64_t units = st.units;
  const std::int64_t prev = st.reverse ? a.t + 1 : a.t - 1;
  // h_prev is the previous step's output except at the first step (h0, in no sequence).
  const T* ds = st.dseq.defined() && !a.first ? st.dseq.data<T>() + prev * units : nullptr;
  auto [dh_prev, first] = ctx.grad_target(1);
  T* out = dh_prev.data<T>();
  if (st.parallel) {
    bwd_sharded<T>(st).multiply(dw, st.steps * st.width, first ? T(0) : T(1), out, units, ds, st.steps * units,
                                [&](std::int64_t j0, std::int64_t j1) { epilogue(out, j0, j1); });
  } else {
    kernels::gemm_planned(bwd_plan<T>(st), dw, st.steps * st.width, st.packed_ut.data<T>(), first ? T(0) : T(1), out,
                          units, ds, st.steps * units);
    epilogue(out, std::int64_t{0}, units);
  }
  return out;
}

template <class T>
T* to_prev(BackwardContext& ctx, ScanState& st, const ScanStepAttrs& a, const T* dw) {
  return to_prev<T>(ctx, st, a, dw, [](T*, std::int64_t, std::int64_t) {});
}

// The weight, bias and input gradients of every step of the scan, from the dz_t (and dhu_t)
// its steps' rules left. Run by the first step's rule, the last one the reverse walk reaches.
template <class T>
void scan_reduce(BackwardContext& ctx, ScanState& st, int u_input) {
  const std::int64_t b = st.batch, steps = st.steps, units = st.units, g = st.width, row = steps * g;
  T* dz = st.dz.data<T>();
  const bool gru = st.cell == CellKind::gru;
  T* dw = gru ? st.dhu.data<T>() : dz;  // what pairs with h_{t-1} in dU
  // Steps the gradient did not reach add nothing.
  for (std::int64_t t = 0; t < steps; ++t) {
    if (st.written[static_cast<std::size_t>(t)]) continue;
    zero_step(dz, t, b, steps, g);
    if (gru) zero_step(dw, t, b, steps, g);
  }
  if (gru && ctx.needs_grad(3))  // the recurrent bias, row 1 of [2, 3u]: column sums of dhu over all steps
    kernels::add_column_sums(dw, g, b * steps, g, ctx.grad_input(3).data<T>() + g);
  if (ctx.needs_grad(u_input) && (steps > 1 || st.h_init.defined())) {
    T* dU = ctx.grad_input(u_input).data<T>();
    const T* seq = st.seq.data<T>();
    if (steps > 1) {
      // dU += sum_t h_{t-1}^T dw_t. Seen as B*T rows, row r of dw pairs with row r - 1 of the
      // sequence (r + 1 reversed), h_{t-1} of the same batch row, except at the first step's
      // rows, which would pair with another batch row: those are set aside and zeroed for one
      // GEMM [u, B*T-1] x [B*T-1, G].
      ensure(st.aside, {b, g}, st.dz.dtype());
      T* aside = st.aside.data<T>();
      T* first_rows = dw + st.first_t * g;
      kernels::copy_rows(first_rows, row, aside, g, b, g);
      zero_step(dw, st.first_t, b, steps, g);
      const std::int64_t k = b * steps - 1;
      if (st.reverse)
        kernels::parallel_gemm(true, false, units, g, k, T(1), seq + units, units, dw, g, T(1), dU, g);
      else
        kernels::parallel_gemm(true, false, units, g, k, T(1), seq, units, dw + g, g, T(1), dU, g);
      kernels::copy_rows(aside, g, first_rows, row, b, g);
    }
    if (st.h_init.defined())  // h0^T dw at the first step
      kernels::parallel_gemm(true, false, units, g, b, T(1), st.h_init.data<T>(), units, dw + st.first_t * g, row, T(1),
                             dU, g);
  }
  if (ctx.needs_grad(0)) ctx.accumulate(0, std::move(st.dz));  // d xw[:, t, :] = dz_t, as laid out
  std::fill(st.written.begin(), st.written.end(), std::uint8_t{0});
  st.dseq = Tensor();
}

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

void scan_step_backward(BackwardContext& ctx) {
  const ScanStepAttrs& a = ctx.attrs<ScanStepAttrs>();
  auto& st = *static_cast<ScanState*>(ctx.object(a.state));
  if (a.checks_saved) {  // GraphError when U, the sequence buffer or h0 was written in place since the scan
    const int first = st.cell == CellKind::lstm ? 1 : 0;  // the LSTM step's c_{t-1} comes first
    (void)ctx.saved(first);
    (void)ctx.saved(first + 1);
    if (a.first) (void)ctx.saved(first + 2);
  }
  const std::int64_t b = st.batch, steps = st.steps, units = st.units, g = st.width, row = steps * g;
  const DType dt = ctx.output_dtype(0);
  ensure(st.dz, {b, steps, g}, dt);
  if (st.cell == CellKind::gru) ensure(st.dhu, {b, steps, g}, dt);
  dispatch(dt, [&]<class T>() {
    T* dz = st.dz.data<T>() + a.t * g;
    // The next rule to run is the step before's (after in time when reversed): its rows of dz,
    // and of dY for the step before it, each row in its own lines.
    const std::int64_t next = st.reverse ? a.t + 1 : a.t - 1, after = st.reverse ? a.t + 2 : a.t - 2;
    if (next >= 0 && next < steps) {
      prefetch_rows(st.dz.data<T>() + next * g, row, b, g, true);
      if (st.cell == CellKind::gru) prefetch_rows(st.dhu.data<T>() + next * g, row, b, g, true);
      if (st.dseq.defined() && after >= 0 && after < steps)
        prefetch_rows(st.dseq.data<T>() + after * units, steps * units, b, units);
    }
    int u_input = 2;
    switch (st.cell) {
      case CellKind::tanh: {
        // dz_t = dh_t (1 - h_t^2), h_t and dz_t in rows `row` apart (the sequence buffer and
        // dz). dh_t holds all of the sequence's share dY[:, t, :]: the next step's rule added it,
        // the sequence rule passed the last step's.
        const T* dh = ctx.grad_output().data<T>();
        const T* h = st.seq.data<T>() + a.t * units;
        for_rows(st, [&](std::int64_t r0, std::int64_t r1) {
          kernels::tanh_grad_rows(dh + r0 * units, h + r0 * row, dz + r0 * row, row, r1 - r0, units);
        });
        to_prev<T>(ctx, st, a, dz);
        break;
      }
      case CellKind::lstm: {
        const Tensor& c_prev = ctx.saved(0);
        T* dc_prev = c_prev.defined() && ctx.needs_grad(2) ? ctx.grad_input(2).data<T>() : nullptr;
        const T* gates = st.gates.data<T>() + a.t * b * 5 * units;
        const T* cp = data_or_null<T>(c_prev);
        const T* dh = data_or_null<T>(ctx.grad_output(0));
        const T* dc = data_or_null<T>(ctx.grad_output(1));
        auto at = [units](auto* p, std::int64_t r) { return p ? p + r * units : p; };
        for_rows(st, [&](std::int64_t r0, std::int64_t r1) {
          kernels::lstm_gates_backward(gates + r0 * 5 * units, at(cp, r0), at(dh, r0), at(dc, r0), dz + r0 * row,
                                       at(dc_prev, r0), r1 - r0, units, row);
        });
        to_prev<T>(ctx, st, a, dz);
        u_input = 3;
        break;
      }
      case CellKind::gru: {
        const T* gates = st.gates.data<T>() + a.t * b * 4 * units;
        const T* dh = ctx.grad_output(0).data<T>();
        T* dhu = st.dhu.data<T>() + a.t * g;
        // h_{t-1}: h0 at the first step (null: zeros), else the rows of the step before (`next`,
        // whose rule runs next) in the sequence.
        const T* hp = a.first ? data_or_null<T>(st.h_init) : st.seq.data<T>() + next * units;
        const std::int64_t ld_h = a.first ? units : steps * units;
        for_rows(st, [&](std::int64_t r0, std::int64_t r1) {
          kernels::gru_gates_backward(gates + r0 * 4 * units, hp ? hp + r0 * ld_h : hp, dh + r0 * units, dz + r0 * row,
                                      dhu + r0 * row, static_cast<T*>(nullptr), r1 - r0, units, row, ld_h);
        });
        to_prev<T>(ctx, st, a, dhu, [&](T* dh_prev, std::int64_t j0, std::int64_t j1) {  // and z dh: h_prev's own
          for (std::int64_t r = 0; r < b; ++r)
            for (std::int64_t j = j0; j < j1; ++j)
              dh_prev[r * units + j] += dh[r * units + j] * gates[r * 4 * units + j];
        });
        break;
      }
    }
    st.written[static_cast<std::size_t>(a.t)] = 1;
    if (a.first) scan_reduce<T>(ctx, st, u_input);
  });
}

// The sequence output's rule: keeps dY for the steps' rules (each adds the previous step's share
// to that step's gradient), and passes the last step its share through the tape, so that the
// walk reaches the steps. Its one input is the last step's output; the walk reaches every other
// step through the chain of states.
void scan_sequence_backward(BackwardContext& ctx) {
  auto& st = *static_cast<ScanState*>(ctx.object(ctx.attrs<std::uint32_t>()));
  st.dseq = ctx.take_grad_output();
  const std::int64_t last_t = st.reverse ? 0 : st.steps - 1;
  if (!ctx.needs_grad(0)) return;
  const BackwardContext::GradTarget target = ctx.grad_target(0);
  const std::int64_t units = st.units, row = st.steps * units;
  dispatch(st.dseq.dtype(), [&]<class T>() {
    kernels::copy_or_add_rows(st.dseq.data<T>() + last_t * units, row, target.buffer.data<T>(), units, st.batch, units,
                              !target.first);
  });
}

bool any_requires_grad(std::initializer_list<const Tensor*> ts) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : ts)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

// One scan: the shared set-up, the steps (`step(i, t, h_prev, ...)` per cell), the sequence.
class Scan {
 public:
  Scan(CellKind cell, const Tensor& xw, const Tensor& h0, const Tensor& u, const ScanSpec& spec, bool recording)
      : spec_(spec), recording_(recording), state_(acquire_state()) {
    ScanState& st = *state_;
    st.cell = cell;
    st.batch = xw.size(0);
    st.steps = xw.size(1);
    st.width = xw.size(2);
    st.units = u.size(0);
    st.reverse = spec.reverse;
    st.first_t = spec.reverse ? st.steps - 1 : 0;
    st.h_init = recording && h0.defined() ? h0.detach() : Tensor();
    st.dseq = Tensor();
    st.written.assign(static_cast<std::size_t>(st.steps), 0);
    const DType dt = xw.dtype();
    const std::int64_t b = st.batch, g = st.width, n = st.units;
    if (recording || spec.sequence) ensure(st.seq, {b, st.steps, n}, dt);
    const std::int64_t gate_cols = cell == CellKind::lstm ? 5 * n : 4 * n;
    if (cell != CellKind::tanh) ensure(st.gates, {recording ? st.steps : 1, b, gate_cols}, dt);
    st.parallel = scan_parallel(b, n, g);
    st.row_block = scan_row_block(b, n);
    if (st.parallel) {
      dispatch(dt, [&]<class T>() {
        fwd_sharded<T>(st).pack(false, b, g, n, u.data<T>(), g);
        if (recording) bwd_sharded<T>(st).pack(true, b, n, g, u.data<T>(), g);
      });
    } else {
      pack_whole(st, u, recording);
    }
    outputs_ = spec.outputs;
    first_output_ = outputs_ ? outputs_->size() : 0;
  }
  Scan(const Scan&) = delete;
  Scan& operator=(const Scan&) = delete;

  // U packed whole for h_{t-1} U, and U^T for dz_t U^T when recording, with their plans.
  static void pack_whole(ScanState& st, const Tensor& u, bool recording) {
    const DType dt = u.dtype();
    const std::int64_t b = st.batch, g = st.width, n = st.units;
    dispatch(dt, [&]<class T>() {
      ensure(st.packed_u, {kernels::packed_b_size<T>(b, g, n)}, dt);
      kernels::pack_b_for(false, b, g, n, u.data<T>(), g, st.packed_u.data<T>());
      if (recording) {
        ensure(st.packed_ut, {kernels::packed_b_size<T>(b, n, g)}, dt);
        kernels::pack_b_for(true, b, n, g, u.data<T>(), g, st.packed_ut.data<T>());
      }
    });
    if (dt == DType::f32) {
      st.fwd_f32 = kernels::plan_packed_b<float>(b, g, n);
      if (recording) st.bwd_f32 = kernels::plan_packed_b<float>(b, n, g);
    } else if (dt == DType::f64) {
      st.fwd_f64 = kernels::plan_packed_b<double>(b, g, n);
      if (recording) st.bwd_f64 = kernels::plan_packed_b<double>(b, n, g);
    }
  }

  ScanState& state() { return *state_; }
  std::int64_t steps() const { return state_->steps; }
  std::int64_t time(std::int64_t i) const { return spec_.reverse ? state_->steps - 1 - i : i; }
  bool recording() const { return recording_; }
  // The slot of step t in the gates buffer.
  std::int64_t gate_slot(std::int64_t t) const { return recording_ ? t : 0; }
  // Asks for the next step's rows of xw (its GEMM's bias) while step i runs.
  template <class T>
  void prefetch_next(const Tensor& xw, std::int64_t i) const {
    const ScanState& st = *state_;
    if (i + 1 < st.steps) prefetch_rows(xw.data<T>() + time(i + 1) * st.width, st.steps * st.width, st.batch, st.width);
  }

  // Attributes and kept state of step i's node; `u` and the sequence buffer saved on the first
  // and last steps, h0 on the first.
  void finish_node(NodeRef& node, std::int64_t i, std::int64_t t, const Tensor& u) {
    if (!node) {
      if (i == 0) recording_ = false;  // nothing records here (inside a backward rule): no graph
      if (recording_) throw GraphError(fmt::format("scan: step {} of a recorded scan was not recorded", t));
      return;
    }
    if (!recording_) throw GraphError(fmt::format("scan: step {} was recorded in a scan that predicted none", t));
    if (i == 0) kept_ = node.keep(state_);
    // The last step's rule runs first in the walk, the first step's last (and reads the sequence
    // and h0 for dU): both check that U and the sequence are as the scan left them, the first
    // that h0 is too.
    const bool checks_saved = i == 0 || i == steps() - 1;
    if (checks_saved) node.save(u).save(state_->seq);
    if (i == 0) node.save(state_->h_init);
    node.attrs(ScanStepAttrs{t, kept_, i == 0, checks_saved});
  }

  void output(const Tensor& h) {
    if (outputs_) outputs_->push_back(h);
  }

  // The sequence of the outputs (ScanSpec::sequence), and the outputs in time order. The
  // sequence node's one input is `last`, the last step's output: no step output is kept alive
  // for it, each dies with the step after it unless the caller asked for the outputs.
  Tensor finish(const Tensor& last) {
    if (outputs_ && spec_.reverse)
      std::reverse(outputs_->begin() + static_cast<std::ptrdiff_t>(first_output_), outputs_->end());
    if (!spec_.sequence) return Tensor();
    Tensor out = state_->seq.detach();  // its own tensor on the buffer the steps wrote
    if (recording_) {
      static constexpr const char* kNames[] = {"rnn_tanh_sequence", "lstm_sequence", "gru_sequence"};
      const char* name = kNames[static_cast<int>(state_->cell)];
      if (NodeRef node = record(name, scan_sequence_backward, {&last}, out)) node.attrs(kept_);
    }
    return out;
  }

 private:
  const ScanSpec& spec_;
  bool recording_;
  std::shared_ptr<ScanState> state_;
  std::vector<Tensor>* outputs_ = nullptr;
  std::size_t first_output_ = 0;
  std::uint32_t kept_ = 0;
};
}  // namespace

ScanOutput rnn_tanh_scan(const Tensor& xw, const Tensor& h0, const Tensor& u, const ScanSpec& spec) {
  const std::int64_t units = check_scan("rnn_tanh_scan", 1, xw, {&h0}, u);
  Scan scan(CellKind::tanh, xw, h0, u, spec, any_requires_grad({&xw, &h0, &u}));
  ScanState& st = scan.state();
  const std::int64_t b = st.batch, steps = st.steps, row = steps * units;
  const bool spread = scan.recording() || spec.sequence;
  Tensor h = h0;
  for (std::int64_t i = 0; i < steps; ++i) {
    const std::int64_t t = scan.time(i);
    Tensor next = Tensor::empty({b, units}, xw.dtype());
    dispatch(xw.dtype(), [&]<class T>() {
      const T* src = xw.data<T>() + t * units;  // xw[:, t, :], rows `row` apart
      T* out = next.data<T>();
      T* seq = spread ? st.seq.data<T>() + t * units : nullptr;  // seq[:, t, :]
      if (st.parallel && h.defined()) {                          // the same, each column shard's tanh by its thread
        fwd_sharded<T>(st).multiply(h.data<T>(), units, T(0), out, units, src, row,
                                    [&](std::int64_t j0, std::int64_t j1) {
                                      for (std::int64_t r = 0; r < b; ++r) {
                                        T* z = out + r * units + j0;
                                        if (seq)
                                          kernels::tanh_forward_spread(z, z, seq + r * row + j0, row, 1, j1 - j0);
                                        else
                                          kernels::tanh_forward(z, z, j1 - j0);
                                      }
                                    });
        return;
      }
      scan.prefetch_next<T>(xw, i);
      if (h.defined())  // z = h_prev U + xw_t, xw_t added as the tiles are written
        kernels::gemm_planned(fwd_plan<T>(st), h.data<T>(), units, st.packed_u.data<T>(), T(0), out, units, src, row);
      else
        kernels::copy_rows(src, row, out, units, b, units);
      for_rows(st, [&](std::int64_t r0, std::int64_t r1) {
        T* z = out + r0 * units;
        if (seq)  // and seq[:, t, :]
          kernels::tanh_forward_spread(z, z, seq + r0 * row, row, r1 - r0, units);
        else
          kernels::tanh_forward(z, z, (r1 - r0) * units);
      });
    });
    // The rule reads h_t from the sequence buffer: the node keeps no step output alive.
    NodeRef node = record("rnn_tanh_step", scan_step_backward, {&xw, &h, &u}, next);
    scan.finish_node(node, i, t, u);
    h = std::move(next);
    scan.output(h);
  }
  Tensor sequence = scan.finish(h);
  return {h, sequence};
}

LSTMScanOutput lstm_scan(const Tensor& xw, const Tensor& h0, const Tensor& c0, const Tensor& u, const ScanSpec& spec) {
  const std::int64_t units = check_scan("lstm_scan", 4, xw, {&h0, &c0}, u);
  Scan scan(CellKind::lstm, xw, h0, u, spec, any_requires_grad({&xw, &h0, &c0, &u}));
  ScanState& st = scan.state();
  const std::int64_t b = st.batch, steps = st.steps, g = st.width, row = steps * g;
  const bool keep_seq = scan.recording() || spec.sequence;
  Tensor h = h0, c = c0;
  for (std::int64_t i = 0; i < steps; ++i) {
    const std::int64_t t = scan.time(i);
    Tensor next_h = Tensor::empty({b, units}, xw.dtype()), next_c = Tensor::empty({b, units}, xw.dtype());
    dispatch(xw.dtype(), [&]<class T>() {
      T* gates = st.gates.data<T>() + scan.gate_slot(t) * b * 5 * units;
      const T* src = xw.data<T>() + t * g;
      scan.prefetch_next<T>(xw, i);
      if (h.defined() && st.parallel)  // z[B,4u] = h_prev U + xw_t
        fwd_sharded<T>(st).multiply(h.data<T>(), units, T(0), gates, 5 * units, src, row);
      else if (h.defined())
        kernels::gemm_planned(fwd_plan<T>(st), h.data<T>(), units, st.packed_u.data<T>(), T(0), gates, 5 * units, src,
                              row);
      else
        kernels::copy_rows(src, row, gates, 5 * units, b, g);
      const T* cp = data_or_null<T>(c);
      T* hn = next_h.data<T>();
      T* cn = next_c.data<T>();
      T* seq = keep_seq ? st.seq.data<T>() + t * units : nullptr;
      for_rows(st, [&](std::int64_t r0, std::int64_t r1) {
        kernels::lstm_gates_forward(gates + r0 * 5 * units, cp ? cp + r0 * units : cp, cn + r0 * units, hn + r0 * units,
                                    r1 - r0, units);
        if (seq) kernels::copy_rows(hn + r0 * units, units, seq + r0 * steps * units, steps * units, r1 - r0, units);
      });
    });
    const Tensor* inputs[] = {&xw, &h, &c, &u};
    Tensor* outputs[] = {&next_h, &next_c};
    NodeRef node = tape().record("lstm_step", scan_step_backward, inputs, outputs);
    if (node) node.save(c);
    scan.finish_node(node, i, t, u);
    h = std::move(next_h);
    c = std::move(next_c);
    scan.output(h);
  }
  Tensor sequence = scan.finish(h);
  return {h, c, sequence};
}

ScanOutput gru_scan(const Tensor& xw, const Tensor& h0, const Tensor& u, const Tensor& bias, const ScanSpec& spec) {
  const std::int64_t units = check_scan("gru_scan", 3, xw, {&h0}, u);
  if (bias.rank() != 2 || bias.size(0) != 2 || bias.size(1) != 3 * units)
    throw ShapeError(
        fmt::format("gru_scan: bias {}, expected [2,{}] (input and recurrent rows)", bias.shape(), 3 * units));
  if (bias.dtype() != xw.dtype())
    throw DTypeError(fmt::format("gru_scan: bias is {}, the projected inputs {}; expected one dtype",
                                 dtype_name(bias.dtype()), dtype_name(xw.dtype())));
  Scan scan(CellKind::gru, xw, h0, u, spec, any_requires_grad({&xw, &h0, &u, &bias}));
  ScanState& st = scan.state();
  const std::int64_t b = st.batch, steps = st.steps, g = st.width, row = steps * g;
  const bool keep_seq = scan.recording() || spec.sequence;
  Tensor h = h0;
  for (std::int64_t i = 0; i < steps; ++i) {
    const std::int64_t t = scan.time(i);
    Tensor next = Tensor::empty({b, units}, xw.dtype());
    dispatch(xw.dtype(), [&]<class T>() {
      T* gates = st.gates.data<T>() + scan.gate_slot(t) * b * 4 * units;
      const T* b_rec = bias.data<T>() + g;
      scan.prefetch_next<T>(xw, i);
      if (h.defined() && st.parallel)  // hu[B,3u] = h_prev U + bias[1]
        fwd_sharded<T>(st).multiply(h.data<T>(), units, T(0), gates, 4 * units, b_rec, 0);
      else if (h.defined())
        kernels::gemm_planned(fwd_plan<T>(st), h.data<T>(), units, st.packed_u.data<T>(), T(0), gates, 4 * units, b_rec,
                              0);
      else
        for (std::int64_t r = 0; r < b; ++r) std::copy_n(b_rec, g, gates + r * 4 * units);
      const T* x = xw.data<T>() + t * g;
      const T* hp = data_or_null<T>(h);
      T* hn = next.data<T>();
      T* seq = keep_seq ? st.seq.data<T>() + t * units : nullptr;
      for_rows(st, [&](std::int64_t r0, std::int64_t r1) {
        kernels::gru_gates_forward(x + r0 * row, row, gates + r0 * 4 * units, hp ? hp + r0 * units : hp,
                                   hn + r0 * units, r1 - r0, units);
        if (seq) kernels::copy_rows(hn + r0 * units, units, seq + r0 * steps * units, steps * units, r1 - r0, units);
      });
    });
    // The rule reads h_{t-1} from the sequence buffer (h0 at the first step, which saves it).
    NodeRef node = record("gru_step", scan_step_backward, {&xw, &h, &u, &bias}, next);
    scan.finish_node(node, i, t, u);
    h = std::move(next);
    scan.output(h);
  }
  Tensor sequence = scan.finish(h);
  return {h, sequence};
}

std::int64_t detail::check_recurrent_operands(const char* op, int gates, const Tensor& xw,
                                              std::initializer_list<const Tensor*> states, const Tensor& u,
                                              const char* state_word) {
  if (xw.rank() != 3)
    throw ShapeError(fmt::format("{}: projected inputs {} must be [batch, time, {} * units]", op, xw.shape(), gates));
  if (u.rank() != 2 || u.size(1) != gates * u.size(0))
    throw ShapeError(fmt::format("{}: recurrent kernel {} must be [units, {} * units]", op, u.shape(), gates));
  const std::int64_t b = xw.size(0), units = u.size(0);
  if (xw.size(2) != gates * units)
    throw ShapeError(fmt::format("{}: projected inputs {} for recurrent kernel {}: expected last dimension {}", op,
                                 xw.shape(), u.shape(), gates * units));
  if (u.dtype() != xw.dtype())
    throw DTypeError(fmt::format("{}: projected inputs are {} and the recurrent kernel {}; expected one dtype", op,
                                 dtype_name(xw.dtype()), dtype_name(u.dtype())));
  for (const Tensor* s : states) {
    if (!s->defined()) continue;
    if (s->rank() != 2 || s->size(0) != b || s->size(1) != units)
      throw ShapeError(fmt::format("{}: {} state {}, expected [{},{}]", op, state_word, s->shape(), b, units));
    if (s->dtype() != xw.dtype())
      throw DTypeError(fmt::format("{}: {} state is {}, the projected inputs {}; expected one dtype", op, state_word,
                                   dtype_name(s->dtype()), dtype_name(xw.dtype())));
  }
  return units;
}

}  // namespace tg

// The scans of the built-in cells (rnn_tanh_scan, lstm_scan, gru_scan): each must give the values
// and gradients of the loop of its single steps (rnn_tanh_step, lstm_step, gru_step), forward and
// reversed, with and without initial states and the sequence output, in float64 and float32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::rnd;

enum class Kind { tanh, lstm, gru };

std::string kind_name(Kind k) { return k == Kind::tanh ? "tanh" : k == Kind::lstm ? "lstm" : "gru"; }

void PrintTo(Kind k, std::ostream* os) { *os << kind_name(k); }

int gates(Kind k) { return k == Kind::tanh ? 1 : k == Kind::lstm ? 4 : 3; }

// The operands of one scan: xw [B,T,G u], U [u, G u], initial states, the GRU bias [2, 3u].
struct Operands {
  Tensor xw, u, h0, c0, bias;
};

Operands make(Kind k, std::int64_t b, std::int64_t steps, std::int64_t units, bool states, DType dt = DType::f64,
              std::uint32_t seed = 1) {
  const std::int64_t g = gates(k) * units;
  Operands o;
  o.xw = rnd({b, steps, g}, seed, dt);
  o.u = rnd({units, g}, seed + 1, -0.5, 0.5, dt);
  if (states) o.h0 = rnd({b, units}, seed + 2, dt);
  if (states && k == Kind::lstm) o.c0 = rnd({b, units}, seed + 3, dt);
  if (k == Kind::gru) o.bias = rnd({2, g}, seed + 4, dt);
  return o;
}

struct Options {
  bool reverse = false;
  bool sequence = false;
  std::int64_t reached = -1;  // the loss reads the step outputs up to this step (in order run) only
  bool retain_step_grads = false;
};

struct Result {
  std::vector<Tensor> outputs;     // h_t in time order
  std::vector<Tensor> step_grads;  // their retained gradients (Options::retain_step_grads)
  Tensor h, c, sequence;
  Tensor dxw, du, dh0, dc0, dbias;
};

Operands leaves(const Operands& in) {
  Operands o;
  o.xw = in.xw.clone().requires_grad_();
  o.u = in.u.clone().requires_grad_();
  if (in.h0.defined()) o.h0 = in.h0.clone().requires_grad_();
  if (in.c0.defined()) o.c0 = in.c0.clone().requires_grad_();
  if (in.bias.defined()) o.bias = in.bias.clone().requires_grad_();
  return o;
}

// Runs the scan (or the loop of steps) and differentiates a loss that reads every output with
// its own weights, the final states, and the sequence when asked.
Result run(Kind k, bool scan, const Operands& in, const Options& opt) {
  Operands o = leaves(in);
  const std::int64_t steps = o.xw.size(1);
  std::vector<Tensor> outs;
  Tensor h, c, seq;
  if (scan) {
    ScanSpec spec{.reverse = opt.reverse, .sequence = opt.sequence, .outputs = &outs};
    if (k == Kind::tanh) {
      ScanOutput r = rnn_tanh_scan(o.xw, o.h0, o.u, spec);
      h = r.h, seq = r.sequence;
    } else if (k == Kind::lstm) {
      LSTMScanOutput r = lstm_scan(o.xw, o.h0, o.c0, o.u, spec);
      h = r.h, c = r.c, seq = r.sequence;
    } else {
      ScanOutput r = gru_scan(o.xw, o.h0, o.u, o.bias, spec);
      h = r.h, seq = r.sequence;
    }
  } else {
    h = o.h0, c = o.c0;
    for (std::int64_t i = 0; i < steps; ++i) {
      const std::int64_t t = opt.reverse ? steps - 1 - i : i;
      if (k == Kind::tanh) {
        h = rnn_tanh_step(o.xw, t, h, o.u);
      } else if (k == Kind::lstm) {
        LSTMStepOutput s = lstm_step(o.xw, t, h, c, o.u);
        h = s.h, c = s.c;
      } else {
        h = gru_step(o.xw, t, h, o.u, o.bias);
      }
      outs.push_back(h);
    }
    if (opt.reverse) std::reverse(outs.begin(), outs.end());
    if (opt.sequence) seq = stack(outs, 1);
  }
  EXPECT_EQ(static_cast<std::int64_t>(outs.size()), steps);
  if (opt.retain_step_grads)
    for (Tensor& x : outs) x.retain_grad();
  Tensor loss;
  auto add = [&](const Tensor& term) { loss = loss.defined() ? loss + term : term; };
  const std::int64_t reached = opt.reached < 0 ? steps - 1 : opt.reached;
  for (std::int64_t i = 0; i <= reached; ++i) {
    const std::int64_t t = opt.reverse ? steps - 1 - i : i;
    add(sum(outs[static_cast<std::size_t>(t)] *
            rnd(outs[0].shape(), 50 + static_cast<std::uint32_t>(t), -1.0, 1.0, outs[0].dtype())));
  }
  if (opt.reached < 0) {
    add(sum(square(h)));
    if (c.defined()) add(sum(c * 2.0));
  }
  if (seq.defined()) add(sum(seq * rnd(seq.shape(), 99, -1.0, 1.0, seq.dtype()) + square(seq)));
  loss.backward();
  Result r;
  for (const Tensor& x : outs) r.outputs.push_back(x.detach());
  if (opt.retain_step_grads)
    for (const Tensor& x : outs) r.step_grads.push_back(x.grad());
  r.h = h.detach();
  if (c.defined()) r.c = c.detach();
  if (seq.defined()) r.sequence = seq.detach();
  r.dxw = o.xw.grad();
  r.du = o.u.grad();
  if (o.h0.defined()) r.dh0 = o.h0.grad();
  if (o.c0.defined()) r.dc0 = o.c0.grad();
  if (o.bias.defined()) r.dbias = o.bias.grad();
  return r;
}

// `got` against `want` to `tol` relative to want's largest element.
void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.defined(), want.defined()) << what;
  if (!want.defined()) return;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::vector<double> x = got.to_vector(), y = want.to_vector();
  double scale = 1e-300;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(x[i], y[i], tol * std::max(1.0, scale)) << what << " [" << i << "]";
}

void expect_same(const Result& a, const Result& b, double tol) {
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (std::size_t t = 0; t < a.outputs.size(); ++t)
    expect_close(a.outputs[t], b.outputs[t], tol, "h_" + std::to_string(t));
  for (std::size_t t = 0; t < b.step_grads.size(); ++t)
    expect_close(a.step_grads[t], b.step_grads[t], tol, "dh_" + std::to_string(t));
  expect_close(a.h, b.h, tol, "h");
  expect_close(a.c, b.c, tol, "c");
  expect_close(a.sequence, b.sequence, tol, "sequence");
  expect_close(a.dxw, b.dxw, tol, "dxw");
  expect_close(a.du, b.du, tol, "du");
  expect_close(a.dh0, b.dh0, tol, "dh0");
  expect_close(a.dc0, b.dc0, tol, "dc0");
  expect_close(a.dbias, b.dbias, tol, "dbias");
}

struct Sizes {
  std::int64_t b, t, u;
};

class ScanEqualsSteps : public ::testing::TestWithParam<Kind> {};

TEST_P(ScanEqualsSteps, InDouble) {
  const Kind k = GetParam();
  for (Sizes s : {Sizes{3, 7, 5}, Sizes{1, 4, 1}, Sizes{32, 6, 20}, Sizes{5, 1, 3}, Sizes{2, 3, 40}}) {
    for (bool states : {false, true})
      for (bool reverse : {false, true})
        for (bool sequence : {false, true}) {
          SCOPED_TRACE(kind_name(k) + " b" + std::to_string(s.b) + " t" + std::to_string(s.t) + " u" +
                       std::to_string(s.u) + (states ? " h0" : "") + (reverse ? " reverse" : "") +
                       (sequence ? " sequence" : ""));
          Operands in = make(k, s.b, s.t, s.u, states);
          Options opt{.reverse = reverse, .sequence = sequence, .retain_step_grads = true};
          expect_same(run(k, true, in, opt), run(k, false, in, opt), 1e-12);
        }
  }
}

// In float32 the scan sums dU over all B*T rows at once and the steps T times over B: both are
// compared with the float64 loop, to float32 golden tolerance relative to the largest element.
TEST_P(ScanEqualsSteps, InFloat) {
  const Kind k = GetParam();
  for (bool reverse : {false, true}) {
    SCOPED_TRACE(reverse ? "reverse" : "forward");
    Operands in = make(k, 32, 50, 20, true, DType::f32, 4);
    Operands in64{in.xw.to(DType::f64), in.u.to(DType::f64), in.h0.to(DType::f64),
                  in.c0.defined() ? in.c0.to(DType::f64) : Tensor(),
                  in.bias.defined() ? in.bias.to(DType::f64) : Tensor()};
    Options opt{.reverse = reverse, .sequence = true};
    Result exact = run(k, false, in64, opt);
    for (bool scan : {true, false}) {
      Result r = run(k, scan, in, opt);
      expect_close(r.h, exact.h, 1e-5, "h_T");
      expect_close(r.sequence, exact.sequence, 1e-5, "sequence");
      expect_close(r.dxw, exact.dxw, 1e-5, "dxw");
      expect_close(r.du, exact.du, 1e-5, "du");
      expect_close(r.dh0, exact.dh0, 1e-5, "dh0");
      expect_close(r.dbias, exact.dbias, 1e-5, "dbias");
    }
  }
}

// Steps after the last one the loss reads get no gradient: they add nothing.
TEST_P(ScanEqualsSteps, StepsTheGradientDoesNotReachAddNothing) {
  const Kind k = GetParam();
  for (bool reverse : {false, true}) {
    Operands in = make(k, 4, 6, 3, true);
    Options opt{.reverse = reverse, .reached = 2};
    expect_same(run(k, true, in, opt), run(k, false, in, opt), 1e-12);
  }
}

TEST_P(ScanEqualsSteps, OneNodePerStep) {
  const Kind k = GetParam();
  Operands o = leaves(make(k, 2, 5, 3, true));
  Tape::current().clear();
  std::vector<Tensor> outs;
  ScanSpec spec{.outputs = &outs};
  Tensor h = k == Kind::tanh   ? rnn_tanh_scan(o.xw, o.h0, o.u, spec).h
             : k == Kind::lstm ? lstm_scan(o.xw, o.h0, o.c0, o.u, spec).h
                               : gru_scan(o.xw, o.h0, o.u, o.bias, spec).h;
  EXPECT_EQ(Tape::current().num_nodes(), 5u);
  Tape::current().clear();
}

// The scan of kind k over o (by default with its sequence output).
ScanOutput scan_of(Kind k, const Operands& o, const ScanSpec& spec = {.sequence = true}) {
  if (k == Kind::tanh) return rnn_tanh_scan(o.xw, o.h0, o.u, spec);
  if (k == Kind::gru) return gru_scan(o.xw, o.h0, o.u, o.bias, spec);
  LSTMScanOutput l = lstm_scan(o.xw, o.h0, o.c0, o.u, spec);
  return {l.h, l.sequence};
}

TEST_P(ScanEqualsSteps, RetainedGraphDifferentiatesTwice) {
  const Kind k = GetParam();
  Operands o = leaves(make(k, 3, 4, 2, true));
  Tensor loss = sum(square(scan_of(k, o).sequence));
  loss.backward(true);
  Tensor du1 = o.u.grad().clone(), dxw1 = o.xw.grad().clone(), dh01 = o.h0.grad().clone();
  loss.backward();
  expect_close(o.u.grad(), du1 * 2.0, 1e-12, "du");
  expect_close(o.xw.grad(), dxw1 * 2.0, 1e-12, "dxw");
  expect_close(o.h0.grad(), dh01 * 2.0, 1e-12, "dh0");
}

// Two scans of the same inputs in one graph, and scans without recording, between recorded ones.
TEST_P(ScanEqualsSteps, TwoScansInOneGraphAndInference) {
  const Kind k = GetParam();
  Operands o = leaves(make(k, 3, 5, 4, true));
  auto pass = [&] { return sum(square(scan_of(k, o).sequence)); };
  Tensor a = pass();
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(pass().requires_grad());
  }
  (a + pass()).backward();
  Tensor du = o.u.grad().clone();
  o.u.zero_grad();
  pass().backward();
  expect_close(du, o.u.grad() * 2.0, 1e-12, "du of two scans");
}

// The backward of `loss` refuses with a GraphError before writing any gradient into u.
void expect_refused(Tensor& loss, const Tensor& u, const std::string& at) {
  EXPECT_THROW(loss.backward(), GraphError) << at;
  EXPECT_FALSE(u.grad().defined() && u.grad().to_vector() != std::vector<double>(u.numel(), 0.0))
      << at << ": a gradient was written before the error";
}

// The sequence output is the buffer the scan's backward takes dU from: written in place after the
// forward, it would give a gradient of values the scan never returned. Each kind of loss (one
// reading the sequence, one reading only the final state, which still needs dU) stops with a
// GraphError before any gradient is written, and an edit of a clone() changes nothing.
TEST_P(ScanEqualsSteps, SequenceWrittenInPlaceIsAnError) {
  const Kind k = GetParam();
  for (bool through_sequence : {true, false})
    for (bool edit_clone : {false, true}) {
      Operands o = leaves(make(k, 3, 4, 2, true));
      ScanOutput r = scan_of(k, o);
      Tensor loss = through_sequence ? sum(square(r.sequence)) : sum(square(r.h));
      const std::string at = kind_name(k) + (through_sequence ? " sequence loss" : " final-state loss");
      if (edit_clone) {
        r.sequence.clone().fill_(0.5);
        EXPECT_NO_THROW(loss.backward()) << at;
        EXPECT_TRUE(o.u.grad().defined()) << at;
      } else {
        r.sequence.fill_(0.5);
        expect_refused(loss, o.u, at);
      }
      Tape::current().clear();
    }
}

// A step output written in place after the scan (ScanSpec::outputs hands them out) leaves the
// gradient of the values the forward computed: no scan rule reads a step output (h_t and h_{t-1}
// come back from the sequence buffer, the gates from their own).
TEST_P(ScanEqualsSteps, StepOutputWrittenInPlace) {
  const Kind k = GetParam();
  const Operands in = make(k, 3, 4, 2, true);
  std::vector<double> want;
  for (bool edit : {false, true}) {
    Operands o = leaves(in);
    std::vector<Tensor> outs;
    Tensor loss = sum(square(scan_of(k, o, {.outputs = &outs}).h));  // reads the last output only
    if (edit) outs[1].fill_(0.5);
    loss.backward();
    std::vector<double> got;
    for (const Tensor* leaf : {&o.xw, &o.u, &o.h0}) {
      const std::vector<double> g = leaf->grad().to_vector();
      got.insert(got.end(), g.begin(), g.end());
    }
    if (edit)
      EXPECT_EQ(got, want) << kind_name(k);
    else
      want = got;
  }
}

// The initial states written in place after the scan: a GraphError before any gradient is
// written (the first step's rule reads h0 for dU and, for the LSTM, c0 for dc), whether or not
// the states themselves want a gradient.
TEST_P(ScanEqualsSteps, InitialStateWrittenInPlaceIsAnError) {
  const Kind k = GetParam();
  for (bool state_grads : {false, true})
    for (bool edit_c : {false, true}) {
      if (edit_c && k != Kind::lstm) continue;
      Operands o = leaves(make(k, 3, 4, 2, true));
      if (!state_grads) {
        o.h0 = o.h0.detach();
        if (o.c0.defined()) o.c0 = o.c0.detach();
      }
      Operands in = o;  // a leaf wanting a gradient is not written in place: its product by 1 is
      if (state_grads) {
        in.h0 = o.h0 * 1.0;
        if (o.c0.defined()) in.c0 = o.c0 * 1.0;
      }
      Tensor loss = sum(square(scan_of(k, in, {}).h));
      (edit_c ? in.c0 : in.h0).fill_(0.5);
      const std::string at = kind_name(k) + (edit_c ? " c0" : " h0") + (state_grads ? ", states want gradients" : "");
      expect_refused(loss, o.u, at);
      Tape::current().clear();
    }
}

TEST_P(ScanEqualsSteps, Gradcheck) {
  const Kind k = GetParam();
  for (bool reverse : {false, true}) {
    Operands in = make(k, 2, 4, 3, true);
    auto f = [k, reverse](const std::vector<Tensor>& x) {
      ScanSpec spec{.reverse = reverse, .sequence = true};
      if (k == Kind::tanh) {
        ScanOutput r = rnn_tanh_scan(x[0], x[1], x[2], spec);
        return sum(square(r.sequence)) + sum(r.h);
      }
      if (k == Kind::lstm) {
        LSTMScanOutput r = lstm_scan(x[0], x[1], x[3], x[2], spec);
        return sum(square(r.sequence)) + sum(r.c);
      }
      ScanOutput r = gru_scan(x[0], x[1], x[2], x[3], spec);
      return sum(square(r.sequence)) + sum(r.h);
    };
    if (k == Kind::tanh) EXPECT_GRADCHECK(f, in.xw, in.h0, in.u);
    if (k == Kind::lstm) EXPECT_GRADCHECK(f, in.xw, in.h0, in.u, in.c0);
    if (k == Kind::gru) EXPECT_GRADCHECK(f, in.xw, in.h0, in.u, in.bias);
  }
}

INSTANTIATE_TEST_SUITE_P(Cells, ScanEqualsSteps, ::testing::Values(Kind::tanh, Kind::lstm, Kind::gru),
                         [](const ::testing::TestParamInfo<Kind>& i) { return kind_name(i.param); });

// A recorded scan keeps no step output alive while its graph lives: the tanh steps read h_t back
// from the sequence buffer, and the sequence node takes the last step's output only. What the
// scan leaves in use is its final state and a few buffers, not T step outputs.
TEST(RnnScans, RecordedTanhScanKeepsNoStepOutputs) {
  const std::int64_t b = 2, steps = 64, units = 256;
  const std::uint64_t step_bytes = b * units * sizeof(float);
  Tensor xw = rnd({b, steps, units}, 1, DType::f32).requires_grad_();
  Tensor u = rnd({units, units}, 2, -0.05, 0.05, DType::f32).requires_grad_();
  for (int pass = 0; pass < 2; ++pass) {  // the first fills this thread's scan state (U packed, the sequence)
    const std::uint64_t before = pool_stats().bytes_in_use;
    ScanOutput r = rnn_tanh_scan(xw, Tensor(), u, {.sequence = true});
    const std::uint64_t kept = pool_stats().bytes_in_use - before;
    if (pass == 1) {
      EXPECT_LT(kept, 8 * 2 * step_bytes) << "bytes kept by a scan of " << steps << " steps";
    }
    Tape::current().clear();
  }
}

TEST(RnnScans, CheckTheirInputs) {
  EXPECT_THROW(rnn_tanh_scan(rnd({2, 3, 4}, 1), Tensor(), rnd({3, 3}, 2)), ShapeError);
  EXPECT_THROW(rnn_tanh_scan(rnd({2, 3}, 1), Tensor(), rnd({3, 3}, 2)), ShapeError);
  EXPECT_THROW(rnn_tanh_scan(rnd({2, 3, 3}, 1), rnd({3, 3}, 3), rnd({3, 3}, 2)), ShapeError);
  EXPECT_THROW(rnn_tanh_scan(rnd({2, 3, 3}, 1), Tensor(), rnd({3, 3}, 2, DType::f32)), DTypeError);
  EXPECT_THROW(lstm_scan(rnd({2, 3, 12}, 1), Tensor(), Tensor(), rnd({3, 9}, 2)), ShapeError);
  EXPECT_THROW(gru_scan(rnd({2, 3, 9}, 1), Tensor(), rnd({3, 9}, 2), rnd({9}, 3)), ShapeError);
  EXPECT_THROW(rnn_tanh_step(rnd({2, 3, 4}, 1), 3, Tensor(), rnd({4, 4}, 2)), ValueError);
}

}  // namespace
}  // namespace tg

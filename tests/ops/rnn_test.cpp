// The fused tanh RNN step, and the scan that shares U's packing and the dU product among the steps
// of a sequence: both must give the numbers of the plain composition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::rnd;

struct Grads {
  std::vector<Tensor> outputs;
  Tensor dxw, du, dh0;
};

// Runs `steps` steps over xw from h0 and differentiates a loss that reads every output (weights
// differ per step, so every path counts), either through the scan or through rnn_tanh_step.
// `last` limits the loss to the outputs up to that step (later steps are not reached).
Grads run(bool scan, const Tensor& xw0, const Tensor& u0, const Tensor& h00, std::int64_t last = -1) {
  Tensor xw = xw0.clone().requires_grad_();
  Tensor u = u0.clone().requires_grad_();
  Tensor h0 = h00.defined() ? h00.clone().requires_grad_() : Tensor();
  const std::int64_t steps = xw.size(1);
  if (last < 0) last = steps - 1;
  RnnTanhScan sc;
  Grads g;
  Tensor h = h0, loss;
  for (std::int64_t t = 0; t < steps; ++t) {
    h = scan ? sc.step(xw, t, h, u) : rnn_tanh_step(xw, t, h, u);
    g.outputs.push_back(h.detach());
    if (t <= last) {
      Tensor term = sum(h * static_cast<double>(t + 1) + square(h));
      loss = loss.defined() ? loss + term : term;
    }
  }
  loss.backward();
  g.dxw = xw.grad();
  g.du = u.grad();
  if (h0.defined()) g.dh0 = h0.grad();
  return g;
}

void expect_close(const Tensor& a, const Tensor& b, double tol, const char* what) {
  ASSERT_EQ(a.defined(), b.defined()) << what;
  if (!a.defined()) return;
  ASSERT_EQ(a.shape(), b.shape()) << what;
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(x[i], y[i], tol * (1 + std::abs(y[i]))) << what << " element " << i;
}

void expect_same(const Grads& a, const Grads& b, double tol) {
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (std::size_t t = 0; t < a.outputs.size(); ++t) expect_close(a.outputs[t], b.outputs[t], tol, "h_t");
  expect_close(a.dxw, b.dxw, tol, "dxw");
  expect_close(a.du, b.du, tol, "du");
  expect_close(a.dh0, b.dh0, tol, "dh0");
}

struct Sizes {
  std::int64_t b, t, h;
};

TEST(RnnTanhScan, MatchesPlainStepsInDouble) {
  for (Sizes s : {Sizes{3, 7, 5}, Sizes{1, 4, 1}, Sizes{32, 6, 20}, Sizes{5, 3, 17}, Sizes{7, 2, 40}}) {
    SCOPED_TRACE(::testing::PrintToString(std::vector<std::int64_t>{s.b, s.t, s.h}));
    Tensor xw = rnd({s.b, s.t, s.h}, 1), u = rnd({s.h, s.h}, 2, -0.5, 0.5), h0 = rnd({s.b, s.h}, 3);
    expect_same(run(true, xw, u, Tensor()), run(false, xw, u, Tensor()), 1e-12);
    expect_same(run(true, xw, u, h0), run(false, xw, u, h0), 1e-12);
  }
}

// In float32 the scan sums dU over all 1600 rows at once and the plain steps 50 times over 32:
// both are compared with the double-precision result, to float32 golden tolerance relative to
// the largest element.
void expect_near_double(const Tensor& got, const Tensor& want, double tol, const char* what) {
  std::vector<double> x = got.to_vector(), y = want.to_vector();
  ASSERT_EQ(x.size(), y.size()) << what;
  double scale = 0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], tol * scale) << what << " element " << i;
}

TEST(RnnTanhScan, MatchesPlainStepsInFloat) {
  Tensor xw = rnd({32, 50, 20}, 4, DType::f32), u = rnd({20, 20}, 5, -0.3, 0.3, DType::f32);
  Grads exact = run(false, xw.to(DType::f64), u.to(DType::f64), Tensor());
  for (bool scan : {true, false}) {
    Grads g = run(scan, xw, u, Tensor());
    expect_near_double(g.outputs.back(), exact.outputs.back(), 1e-5, "h_T");
    expect_near_double(g.dxw, exact.dxw, 1e-5, "dxw");
    expect_near_double(g.du, exact.du, 1e-5, "du");
  }
}

TEST(RnnTanhScan, StepsTheGradientDoesNotReachAddNothing) {
  Tensor xw = rnd({4, 6, 3}, 6), u = rnd({3, 3}, 7);
  expect_same(run(true, xw, u, Tensor(), 2), run(false, xw, u, Tensor(), 2), 1e-12);
}

TEST(RnnTanhScan, GradcheckThroughASequence) {
  auto f = [](const std::vector<Tensor>& in) {
    RnnTanhScan sc;
    Tensor h = in[2];
    for (std::int64_t t = 0; t < in[0].size(1); ++t) h = sc.step(in[0], t, h, in[1]);
    return sum(square(h));
  };
  EXPECT_GRADCHECK(f, rnd({2, 4, 3}, 8), rnd({3, 3}, 9), rnd({2, 3}, 10));
}

TEST(RnnTanhScan, StepsOffTheChainRunAsPlainSteps) {
  // A detached state mid-sequence cuts the graph; a repeated step is an ordinary step. Both must
  // give what the plain steps give.
  Tensor xw0 = rnd({2, 5, 3}, 11), u0 = rnd({3, 3}, 12);
  auto go = [&](bool scan) {
    Tensor xw = xw0.clone().requires_grad_(), u = u0.clone().requires_grad_();
    RnnTanhScan sc;
    auto step = [&](std::int64_t t, const Tensor& h) {
      return scan ? sc.step(xw, t, h, u) : rnn_tanh_step(xw, t, h, u);
    };
    Tensor h = step(0, Tensor());
    h = step(1, h);
    h = step(2, h.detach());
    Tensor again = step(2, h);
    h = step(3, h);
    sum(h + again).backward();
    return std::vector<Tensor>{h.detach(), xw.grad(), u.grad()};
  };
  std::vector<Tensor> a = go(true), b = go(false);
  for (int i = 0; i < 3; ++i)
    expect_close(a[static_cast<std::size_t>(i)], b[static_cast<std::size_t>(i)], 1e-12, "value");
}

TEST(RnnTanhScan, RetainedGraphDifferentiatesTwice) {
  Tensor xw = rnd({3, 4, 2}, 13).requires_grad_(), u = rnd({2, 2}, 14).requires_grad_();
  RnnTanhScan sc;
  Tensor h;
  for (std::int64_t t = 0; t < 4; ++t) h = sc.step(xw, t, h, u);
  Tensor loss = sum(h);
  loss.backward(true);
  Tensor du1 = u.grad().clone(), dxw1 = xw.grad().clone();
  loss.backward();
  expect_close(u.grad(), du1 * 2.0, 1e-12, "du");
  expect_close(xw.grad(), dxw1 * 2.0, 1e-12, "dxw");
}

TEST(RnnTanhScan, ReusedAcrossSequencesAndWithoutRecording) {
  RnnTanhScan sc;
  for (std::uint32_t seq = 0; seq < 3; ++seq) {
    Tensor xw0 = rnd({3, 5, 4}, 20 + seq), u0 = rnd({4, 4}, 30 + seq);
    Grads plain = run(false, xw0, u0, Tensor());
    Tensor xw = xw0.clone().requires_grad_(), u = u0.clone().requires_grad_();
    Tensor h, loss;
    for (std::int64_t t = 0; t < 5; ++t) {
      h = sc.step(xw, t, h, u);
      Tensor term = sum(h * static_cast<double>(t + 1) + square(h));
      loss = loss.defined() ? loss + term : term;
    }
    loss.backward();
    expect_close(xw.grad(), plain.dxw, 1e-12, "dxw");
    expect_close(u.grad(), plain.du, 1e-12, "du");
    NoGradGuard no_grad;
    Tensor hn;
    for (std::int64_t t = 0; t < 5; ++t) hn = sc.step(xw0, t, hn, u0);
    expect_close(hn, plain.outputs.back(), 1e-12, "no-grad h_T");
  }
}

// The same xw stepped through twice (the same batch fed again, or two passes in one graph): each
// pass from step 0 starts a chain of its own.
TEST(RnnTanhScan, TheSameInputsTwice) {
  Tensor xw0 = rnd({3, 5, 4}, 40), u0 = rnd({4, 4}, 41);
  Grads plain = run(false, xw0, u0, Tensor());
  Tensor xw = xw0.clone().requires_grad_(), u = u0.clone().requires_grad_();
  RnnTanhScan sc;
  auto pass = [&] {
    Tensor h, loss;
    for (std::int64_t t = 0; t < 5; ++t) {
      h = sc.step(xw, t, h, u);
      Tensor term = sum(h * static_cast<double>(t + 1) + square(h));
      loss = loss.defined() ? loss + term : term;
    }
    return loss;
  };
  for (int round = 0; round < 2; ++round) {  // one pass per backward
    pass().backward();
    expect_close(xw.grad(), plain.dxw, 1e-12, "dxw");
    expect_close(u.grad(), plain.du, 1e-12, "du");
    xw.zero_grad();
    u.zero_grad();
  }
  (pass() + pass()).backward();  // two passes in one graph
  expect_close(xw.grad(), plain.dxw * 2.0, 1e-12, "dxw of two passes");
  expect_close(u.grad(), plain.du * 2.0, 1e-12, "du of two passes");
}

// The sequence the scan wrote as it stepped, against the plain steps stacked: its values, and
// the gradients of a loss that reads the sequence (weighted per element) and, optionally, the last
// state on its own as well.
Grads run_sequence(bool scan, const Tensor& xw0, const Tensor& u0, const Tensor& h00, bool also_last) {
  Tensor xw = xw0.clone().requires_grad_();
  Tensor u = u0.clone().requires_grad_();
  Tensor h0 = h00.defined() ? h00.clone().requires_grad_() : Tensor();
  RnnTanhScan sc;
  std::vector<Tensor> hs;
  Tensor h = h0;
  for (std::int64_t t = 0; t < xw.size(1); ++t) {
    h = scan ? sc.step(xw, t, h, u) : rnn_tanh_step(xw, t, h, u);
    hs.push_back(h);
  }
  Tensor seq = scan ? sc.sequence(hs) : stack(hs, 1);
  Tensor weights = rnd(seq.shape(), 99, -1.0, 1.0, seq.dtype());
  Tensor loss = sum(seq * weights + square(seq));
  if (also_last) loss = loss + sum(h * 3.0);
  loss.backward();
  Grads g;
  g.outputs.push_back(seq.detach());
  g.dxw = xw.grad();
  g.du = u.grad();
  if (h0.defined()) g.dh0 = h0.grad();
  return g;
}

TEST(RnnTanhScan, SequenceMatchesTheStackedPlainSteps) {
  for (Sizes s : {Sizes{3, 7, 5}, Sizes{1, 4, 1}, Sizes{32, 6, 20}, Sizes{5, 1, 3}, Sizes{2, 3, 40}}) {
    SCOPED_TRACE(::testing::PrintToString(std::vector<std::int64_t>{s.b, s.t, s.h}));
    Tensor xw = rnd({s.b, s.t, s.h}, 1), u = rnd({s.h, s.h}, 2, -0.5, 0.5), h0 = rnd({s.b, s.h}, 3);
    for (bool also_last : {false, true}) {
      expect_same(run_sequence(true, xw, u, Tensor(), also_last), run_sequence(false, xw, u, Tensor(), also_last),
                  1e-12);
      expect_same(run_sequence(true, xw, u, h0, also_last), run_sequence(false, xw, u, h0, also_last), 1e-12);
    }
  }
}

// A step output's retained gradient is all of dLoss/dh_t, the sequence's share dY[:, t, :]
// included: step t + 1's rule adds it to h_t's gradient on the tape (the last step's comes
// through the sequence node), as with the plain steps stacked.
TEST(RnnTanhScan, RetainedStepGradientsIncludeTheSequencesShare) {
  const Tensor xw0 = rnd({4, 6, 5}, 1), u0 = rnd({5, 5}, 2, -0.5, 0.5);
  auto run = [&](bool scan) {
    Tensor xw = xw0.clone().requires_grad_(), u = u0.clone().requires_grad_();
    RnnTanhScan sc;
    std::vector<Tensor> hs;
    Tensor h;
    for (std::int64_t t = 0; t < xw.size(1); ++t) {
      h = scan ? sc.step(xw, t, h, u) : rnn_tanh_step(xw, t, h, u);
      h.retain_grad();
      hs.push_back(h);
    }
    Tensor seq = scan ? sc.sequence(hs) : stack(hs, 1);
    sum(seq * rnd(seq.shape(), 99, -1.0, 1.0, seq.dtype()) + square(seq)).backward();
    std::vector<Tensor> grads;
    for (const Tensor& x : hs) grads.push_back(x.grad());
    return grads;
  };
  const std::vector<Tensor> scanned = run(true), plain = run(false);
  for (std::size_t t = 0; t < plain.size(); ++t) {
    SCOPED_TRACE(t);
    expect_close(scanned[t], plain[t], 1e-12, "dh_t");
  }
}

TEST(RnnTanhScan, ChecksItsInputs) {
  RnnTanhScan sc;
  EXPECT_THROW(sc.step(rnd({2, 3, 4}, 1), 3, Tensor(), rnd({4, 4}, 2)), ValueError);
  EXPECT_THROW(sc.step(rnd({2, 3, 4}, 1), 0, Tensor(), rnd({3, 3}, 2)), ShapeError);
  EXPECT_THROW(sc.step(rnd({2, 3}, 1), 0, Tensor(), rnd({3, 3}, 2)), ShapeError);
}

}  // namespace
}  // namespace tg

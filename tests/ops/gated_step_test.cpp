// The fused LSTM and GRU steps (ops/gated.h): gradient checks in float64 on every input, alone
// and chained over several steps, with zero (undefined) and given states; the same numbers as the
// steps written with plain ops (forward and every gradient); one node per step; bad calls.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"
#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;
using testing::rnd;

constexpr std::int64_t kB = 3, kT = 4, kU = 3;

// [h, c] side by side, so a gradcheck's random projection seeds h and c independently.
Tensor both(const LSTMStepOutput& s) { return concat(std::vector<Tensor>{s.h, s.c}, 1); }

// Steps 0..T-1 from the given states over xw [B, T, .]: every h_t side by side (and the last
// c for the LSTM), fused or composed.
Tensor lstm_sequence(const std::vector<Tensor>& in, bool fused) {
  LSTMStepOutput s{in[1], in[2]};
  std::vector<Tensor> hs;
  for (std::int64_t t = 0; t < in[0].size(1); ++t) {
    s = fused ? lstm_step(in[0], t, s.h, s.c, in[3]) : lstm_step_composed(in[0], t, s.h, s.c, in[3]);
    hs.push_back(s.h);
  }
  hs.push_back(s.c);
  return concat(hs, 1);
}

Tensor gru_sequence(const std::vector<Tensor>& in, bool fused) {
  Tensor h = in[1];
  std::vector<Tensor> hs;
  for (std::int64_t t = 0; t < in[0].size(1); ++t)
    hs.push_back(h = fused ? gru_step(in[0], t, h, in[2], in[3]) : gru_step_composed(in[0], t, h, in[2], in[3]));
  return concat(hs, 1);
}

TEST(LstmStep, GradcheckEveryInput) {
  Tensor xw = rnd({kB, kT, 4 * kU}, 1), h = rnd({kB, kU}, 2), c = rnd({kB, kU}, 3), u = rnd({kU, 4 * kU}, 4);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return both(lstm_step(in[0], 2, in[1], in[2], in[3])); }, xw, h,
                   c, u);
}

TEST(LstmStep, GradcheckFromZeroStates) {
  Tensor xw = rnd({kB, kT, 4 * kU}, 5), u = rnd({kU, 4 * kU}, 6);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return both(lstm_step(in[0], 0, Tensor(), Tensor(), in[1])); },
                   xw, u);
}

TEST(LstmStep, GradcheckWhenOnlyOneStateIsUsed) {
  Tensor xw = rnd({kB, kT, 4 * kU}, 7), h = rnd({kB, kU}, 8), c = rnd({kB, kU}, 9), u = rnd({kU, 4 * kU}, 10);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return lstm_step(in[0], 1, in[1], in[2], in[3]).h; }, xw, h, c,
                   u);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return lstm_step(in[0], 3, in[1], in[2], in[3]).c; }, xw, h, c,
                   u);
}

TEST(LstmStep, GradcheckThroughFourStepsAndBothStates) {
  Tensor xw = rnd({kB, kT, 4 * kU}, 11), h0 = rnd({kB, kU}, 12), c0 = rnd({kB, kU}, 13), u = rnd({kU, 4 * kU}, 14);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return lstm_sequence(in, true); }, xw, h0, c0, u);
}

TEST(GruStep, GradcheckEveryInput) {
  Tensor xw = rnd({kB, kT, 3 * kU}, 21), h = rnd({kB, kU}, 22), u = rnd({kU, 3 * kU}, 23), b = rnd({2, 3 * kU}, 24);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return gru_step(in[0], 1, in[1], in[2], in[3]); }, xw, h, u, b);
}

TEST(GruStep, GradcheckFromAZeroState) {
  Tensor xw = rnd({kB, kT, 3 * kU}, 25), u = rnd({kU, 3 * kU}, 26), b = rnd({2, 3 * kU}, 27);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return gru_step(in[0], 0, Tensor(), in[1], in[2]); }, xw, u, b);
}

TEST(GruStep, GradcheckThroughFourSteps) {
  Tensor xw = rnd({kB, kT, 3 * kU}, 28), h0 = rnd({kB, kU}, 29), u = rnd({kU, 3 * kU}, 30), b = rnd({2, 3 * kU}, 31);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return gru_sequence(in, true); }, xw, h0, u, b);
}

TEST(GruStep, OnlyTheRecurrentBiasRowGetsAGradient) {
  Tensor xw = rnd({kB, kT, 3 * kU}, 32), h = rnd({kB, kU}, 33), u = rnd({kU, 3 * kU}, 34);
  Tensor b = rnd({2, 3 * kU}, 35).requires_grad_();
  sum(gru_step(xw, 2, h, u, b)).backward();
  for (std::int64_t j = 0; j < 3 * kU; ++j) {
    EXPECT_EQ(b.grad().at({0, j}), 0.0) << j;
    EXPECT_NE(b.grad().at({1, j}), 0.0) << j;
  }
}

// Runs `steps` fused and composed steps over the same leaves, seeds each with the same random
// gradient and compares the outputs and every leaf's gradient.
void expect_fused_equals_composed(const std::function<Tensor(const std::vector<Tensor>&, bool fused)>& run,
                                  std::vector<Tensor> leaves, double tol) {
  std::vector<Tensor> grads[2];
  Tensor outs[2];
  for (int fused = 0; fused < 2; ++fused) {
    std::vector<Tensor> in;
    for (const Tensor& l : leaves) in.push_back(l.clone().requires_grad_());
    Tensor out = run(in, fused == 1);
    out.backward(rnd(out.shape(), 99, out.dtype()));
    outs[fused] = out.detach();
    for (const Tensor& t : in) grads[fused].push_back(t.grad());
  }
  const std::vector<double> a = outs[0].to_vector(), b = outs[1].to_vector();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "output " << i;
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    ASSERT_TRUE(grads[0][k].defined() && grads[1][k].defined()) << "input " << k;
    const std::vector<double> ga = grads[0][k].to_vector(), gb = grads[1][k].to_vector();
    for (std::size_t i = 0; i < ga.size(); ++i) EXPECT_NEAR(ga[i], gb[i], tol) << "input " << k << " element " << i;
  }
}

TEST(LstmStep, FusedEqualsComposed) {
  for (DType d : {DType::f64, DType::f32}) {
    SCOPED_TRACE(std::string(dtype_name(d)));
    const double tol = d == DType::f64 ? 1e-13 : 2e-5;
    expect_fused_equals_composed(
        lstm_sequence, {rnd({4, 6, 20}, 41, -2, 2, d), rnd({4, 5}, 42, d), rnd({4, 5}, 43, d), rnd({5, 20}, 44, d)},
        tol);
    // From zero states, as a layer starts.
    expect_fused_equals_composed(
        [](const std::vector<Tensor>& in, bool fused) {
          return lstm_sequence({in[0], Tensor(), Tensor(), in[1]}, fused);
        },
        {rnd({4, 6, 20}, 45, -2, 2, d), rnd({5, 20}, 46, d)}, tol);
  }
}

TEST(GruStep, FusedEqualsComposed) {
  for (DType d : {DType::f64, DType::f32}) {
    SCOPED_TRACE(std::string(dtype_name(d)));
    const double tol = d == DType::f64 ? 1e-13 : 2e-5;
    expect_fused_equals_composed(
        gru_sequence, {rnd({4, 6, 15}, 51, -2, 2, d), rnd({4, 5}, 52, d), rnd({5, 15}, 53, d), rnd({2, 15}, 54, d)},
        tol);
    expect_fused_equals_composed(
        [](const std::vector<Tensor>& in, bool fused) {
          return gru_sequence({in[0], Tensor(), in[1], in[2]}, fused);
        },
        {rnd({4, 6, 15}, 55, -2, 2, d), rnd({5, 15}, 56, d), rnd({2, 15}, 57, d)}, tol);
  }
}

TEST(GatedSteps, OneNodePerStep) {
  tape().clear();
  Tensor xw = rnd({2, 3, 8}, 61).requires_grad_(), u = rnd({2, 8}, 62).requires_grad_();
  LSTMStepOutput s = lstm_step(xw, 0, Tensor(), Tensor(), u);
  s = lstm_step(xw, 1, s.h, s.c, u);
  EXPECT_EQ(tape().num_nodes(), 2u);
  Tensor g = rnd({2, 3, 6}, 63).requires_grad_(), gu = rnd({2, 6}, 64).requires_grad_(), b = zeros({2, 6}, DType::f64);
  Tensor h = gru_step(g, 0, Tensor(), gu, b);
  h = gru_step(g, 1, h, gu, b);
  EXPECT_EQ(tape().num_nodes(), 4u);
  tape().clear();
}

TEST(GatedSteps, BadCallsNameTheOpAndTheShapes) {
  Tensor xw = zeros({2, 3, 8}), u = zeros({2, 8}), h = zeros({2, 2});
  EXPECT_THAT(error_of<ShapeError>([&] {
                lstm_step(zeros({2, 8}), 0, h, h, u);
              }),
              HasSubstr("lstm_step: projected inputs [2,8] must be [batch, time, 4 * units]"));
  EXPECT_THAT(error_of<ShapeError>([&] {
                lstm_step(xw, 0, h, h, zeros({2, 6}));
              }),
              HasSubstr("lstm_step: recurrent kernel [2,6] must be [units, 4 * units]"));
  EXPECT_THAT(error_of<ShapeError>([&] {
                lstm_step(zeros({2, 3, 12}), 0, h, h, u);
              }),
              HasSubstr("projected inputs [2,3,12] for recurrent kernel [2,8]: expected last dimension 8"));
  EXPECT_THAT(error_of<ValueError>([&] { lstm_step(xw, 3, h, h, u); }),
              HasSubstr("lstm_step: step 3 out of range for 3 time steps"));
  EXPECT_THAT(error_of<ShapeError>([&] {
                lstm_step(xw, 0, h, zeros({3, 2}), u);
              }),
              HasSubstr("lstm_step: previous state [3,2], expected [2,2]"));
  EXPECT_THAT(error_of<DTypeError>([&] {
                lstm_step(xw, 0, zeros({2, 2}, DType::f64), h, u);
              }),
              HasSubstr("lstm_step: previous state is float64"));
  EXPECT_THAT(error_of<DTypeError>([&] {
                lstm_step(xw, 0, h, h, zeros({2, 8}, DType::f64));
              }),
              HasSubstr("lstm_step: projected inputs are float32 and the recurrent kernel float64"));
  Tensor gx = zeros({2, 3, 6}), gu = zeros({2, 6});
  EXPECT_THAT(error_of<ShapeError>([&] { gru_step(gx, 0, h, gu, zeros({6})); }),
              HasSubstr("gru_step: bias [6], expected [2,6]"));
  EXPECT_THAT(error_of<ShapeError>([&] {
                gru_step(gx, 0, h, zeros({2, 8}), zeros({2, 6}));
              }),
              HasSubstr("gru_step: recurrent kernel [2,8] must be [units, 3 * units]"));
  EXPECT_THAT(error_of<ValueError>([&] {
                gru_step(gx, -1, h, gu, zeros({2, 6}));
              }),
              HasSubstr("gru_step: step -1 out of range"));
  EXPECT_THAT(error_of<DTypeError>([&] {
                gru_step(gx, 0, h, gu, zeros({2, 6}, DType::f64));
              }),
              HasSubstr("gru_step: bias is float64"));
}

}  // namespace
}  // namespace tg

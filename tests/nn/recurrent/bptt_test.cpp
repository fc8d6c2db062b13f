// BPTT made visible and controllable: per-step gradient norms, stateful layers, truncated BPTT,
// and the graph export of a model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

void expect_close(double got, double want, double rel, const std::string& what) {
  EXPECT_NEAR(got, want, rel * std::max(1.0, std::abs(want))) << what;
}

SimpleRNN& rnn_of(Sequential& m, std::size_t i = 0) { return dynamic_cast<SimpleRNN&>(m[i]); }

// ---- per-step gradient norms ------------------------------------------------------------------

// h_t = x_t w + h_{t-1} u with one unit and loss = sum over the batch of h_{T-1}: dL/dh_t is
// u^(T-1-t) for every sample, so its norm over a batch of B is sqrt(B) |u|^(T-1-t).
TEST(StepGradientNorms, LinearRecurrenceMatchesClosedForm) {
  Sequential m(Input{None, 1}, SimpleRNN(1, {}, activations::linear));
  m.to(DType::f64);
  SimpleRNN& rnn = rnn_of(m);
  auto& cell = dynamic_cast<SimpleRNNCell&>(rnn.cell());
  cell.kernel.fill_(0.7);
  cell.recurrent_kernel.fill_(0.8);
  std::vector<RNN*> tracked = track_step_gradients(m);
  ASSERT_EQ(tracked.size(), 1u);
  EXPECT_EQ(tracked[0], &rnn);
  const int B = 3, T = 6;
  Generator g(5);
  sum(m(randn({B, T, 1}, DType::f64, &g))).backward();
  std::vector<double> norms = rnn.step_gradient_norms();
  ASSERT_EQ(norms.size(), static_cast<std::size_t>(T));
  for (int t = 0; t < T; ++t)
    expect_close(norms[t], std::sqrt(double(B)) * std::pow(0.8, T - 1 - t), 1e-13, "t=" + std::to_string(t));
}

// With return_sequences the built-in tanh runs the scan, whose sequence output hands the steps
// their share of dY without a stack; each kept step output still gets all of dLoss/dh_t. The
// same layer with tanh through a function of its own (the composed steps and a stack) is the
// reference.
TEST(StepGradientNorms, SequenceOutputGivesEachStepItsWholeGradient) {
  const Activation composed_tanh{"tanh", +[](const Tensor& x) { return tg::tanh(x); }};
  auto run = [&](Activation act) {
    manual_seed(5);
    Sequential m(Input{None, 2}, SimpleRNN(3, {.return_sequences = true, .keep_step_outputs = true}, act));
    m.to(DType::f64);
    Generator g(6);
    Tensor x = randn({4, 6, 2}, DType::f64, &g);
    Tensor w = randn({4, 6, 3}, DType::f64, &g);
    Tensor y = m(x);
    // The built-in tanh's layer output is the scan's sequence, not a stack of the steps.
    EXPECT_EQ(count(tape().to_dot(), "rnn_tanh_sequence"), act == activations::tanh ? 1u : 0u);
    sum(y * w + square(y)).backward();
    std::vector<Tensor> grads;
    for (const Tensor& h : rnn_of(m).step_outputs()) grads.push_back(h.grad().clone());
    return grads;
  };
  const std::vector<Tensor> scanned = run(activations::tanh), composed = run(composed_tanh);
  ASSERT_EQ(scanned.size(), 6u);
  ASSERT_EQ(composed.size(), 6u);
  for (std::size_t t = 0; t < scanned.size(); ++t)
    EXPECT_LT(max(abs(scanned[t] - composed[t])).item(), 1e-12) << "t=" << t;
}

// With tanh and two units, dL/dh_{t-1} = (dL/dh_t * (1 - h_t^2)) U^T, computed here by hand from
// the step outputs' values; loss = sum(h_{T-1} v).
TEST(StepGradientNorms, TanhRecurrenceMatchesHandBackpropInFloat64) {
  manual_seed(3);
  Sequential m(Input{None, 2}, SimpleRNN(2, {.keep_step_outputs = true}));
  m.to(DType::f64);
  SimpleRNN& rnn = rnn_of(m);
  auto& cell = dynamic_cast<SimpleRNNCell&>(rnn.cell());
  Tensor u = cell.recurrent_kernel;
  u.copy_from(tensor({0.9, -0.6, 0.5, 1.1}, {2, 2}, DType::f64));
  const int B = 2, T = 7;
  Generator g(8);
  Tensor v = tensor({1.5, -0.5}, {2, 1}, DType::f64);
  sum(matmul(m(randn({B, T, 2}, DType::f64, &g)), v)).backward();
  std::vector<double> norms = rnn.step_gradient_norms();
  ASSERT_EQ(norms.size(), static_cast<std::size_t>(T));

  const auto& hs = rnn.step_outputs();
  std::vector<double> grad(B * 2);
  for (int b = 0; b < B; ++b) grad[b * 2] = 1.5, grad[b * 2 + 1] = -0.5;
  for (int t = T - 1; t >= 0; --t) {
    double sq = 0;
    for (double x : grad) sq += x * x;
    expect_close(norms[t], std::sqrt(sq), 1e-12, "t=" + std::to_string(t));
    std::vector<double> prev(B * 2, 0.0);
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < 2; ++i) {
        double h = hs[t].at({b, i});
        double dz = grad[b * 2 + i] * (1 - h * h);
        for (int j = 0; j < 2; ++j) prev[b * 2 + j] += dz * u.at({j, i});  // (dz U^T)_j
      }
    grad = prev;
  }
}

TEST(StepGradientNorms, DeepModelTracksEveryLayerWithoutRewritingIt) {
  manual_seed(4);
  Sequential m(Input{None, 1}, SimpleRNN(4, {.return_sequences = true}), SimpleRNN(3), Dense(1));
  std::vector<RNN*> rnns = track_step_gradients(m);
  ASSERT_EQ(rnns.size(), 2u);
  EXPECT_EQ(rnns[0], &m[0]);
  EXPECT_EQ(rnns[1], &m[1]);
  Generator g(2);
  Tensor x = randn({5, 9, 1}, DType::f32, &g);
  Tensor out = m(x);
  EXPECT_THAT(error_of<GraphError>([&] { rnns[0]->step_gradient_norms(); }), HasSubstr("run backward"));
  sum(out).backward();
  for (RNN* r : rnns) {
    std::vector<double> norms = r->step_gradient_norms();
    ASSERT_EQ(norms.size(), 9u);
    for (double n : norms) EXPECT_GT(n, 0.0);
  }
  track_step_gradients(m, false);
  sum(m(x)).backward();
  EXPECT_THAT(error_of<GraphError>([&] { rnns[1]->step_gradient_norms(); }), HasSubstr("keep_step_outputs"));
  Sequential dense_only(Input{3}, Dense(1));
  EXPECT_THAT(error_of<ValueError>([&] { track_step_gradients(dense_only); }), HasSubstr("no recurrent layer"));
}

// ---- stateful layers --------------------------------------------------------------------------

TEST(Stateful, TwoHalvesEqualOneWholeSequence) {
  manual_seed(6);
  Sequential whole(Input{None, 1}, SimpleRNN(3, {.return_sequences = true}));
  Sequential halves(Input{None, 1}, SimpleRNN(3, {.return_sequences = true, .stateful = true}));
  whole.to(DType::f64);
  halves.to(DType::f64);
  for (std::size_t i = 0; i < 3; ++i) halves.parameters()[i].copy_from(whole.parameters()[i]);
  Generator g(7);
  Tensor x = randn({2, 10, 1}, DType::f64, &g);
  std::vector<double> want = whole(x).to_vector();
  Tensor first = halves(slice(x, 1, 0, 4));
  ASSERT_EQ(rnn_of(halves).carried_states().size(), 1u);
  EXPECT_FALSE(rnn_of(halves).carried_states()[0].requires_grad());  // the values go on, the graph not
  Tensor second = halves(slice(x, 1, 4, 6));
  std::vector<double> got = concat(std::vector<Tensor>{first, second}, 1).to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want[i]) << i;

  reset_states(halves);
  EXPECT_TRUE(rnn_of(halves).carried_states().empty());
  std::vector<double> again = halves(slice(x, 1, 0, 4)).to_vector();
  std::vector<double> first_v = first.to_vector();
  for (std::size_t i = 0; i < again.size(); ++i) EXPECT_DOUBLE_EQ(again[i], first_v[i]);
  EXPECT_THAT(error_of<ShapeError>([&] { halves(slice(x, 0, 0, 1)); }), HasSubstr("reset_states()"));
  rnn_of(halves).set_stateful(false);
  EXPECT_TRUE(rnn_of(halves).carried_states().empty());
  EXPECT_EQ(halves(slice(x, 0, 0, 1)).shape(), (Shape{1, 10, 3}));
}

// ---- truncated BPTT ---------------------------------------------------------------------------

struct Grads {
  std::vector<std::vector<double>> values;
};

Grads grads_of(const Module& m) {
  Grads g;
  for (const Tensor& p : m.parameters()) g.values.push_back(p.grad().to_vector());
  return g;
}

void expect_same(const Grads& a, const Grads& b, double rel) {
  ASSERT_EQ(a.values.size(), b.values.size());
  for (std::size_t i = 0; i < a.values.size(); ++i) {
    ASSERT_EQ(a.values[i].size(), b.values[i].size());
    for (std::size_t j = 0; j < a.values[i].size(); ++j)
      expect_close(a.values[i][j], b.values[i][j], rel,
                   "parameter " + std::to_string(i) + " element " + std::to_string(j));
  }
}

double max_difference(const Grads& a, const Grads& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.values.size(); ++i)
    for (std::size_t j = 0; j < a.values[i].size(); ++j) d = std::max(d, std::abs(a.values[i][j] - b.values[i][j]));
  return d;
}

struct TruncatedBptt : ::testing::Test {
  TruncatedBptt()
      : m((manual_seed(12), Input{None, 1}), SimpleRNN(3, {.return_sequences = true}), TimeDistributed(Dense(1))) {
    m.to(DType::f64);
    Generator g(13);
    x = randn({2, 8, 1}, DType::f64, &g);
    y = randn({2, 8, 1}, DType::f64, &g);
  }
  Grads full_bptt() {
    m.zero_grad();
    mse(y, m(x)).backward();
    return grads_of(m);
  }
  Sequential m;
  Tensor x, y;
};

TEST_F(TruncatedBptt, ChunkCoveringTheSequenceIsFullBptt) {
  Grads full = full_bptt();
  for (std::int64_t k : {8, 100}) {
    std::vector<double> losses = train_truncated_bptt(m, x, y, {.k = k});
    ASSERT_EQ(losses.size(), 1u);
    expect_same(grads_of(m), full, 1e-12);
  }
}

// With k = 3 the chunks are [0,3), [3,6), [6,8); each starts from the previous chunk's final
// states, detached. Done here by hand with forward_with_states on the non-stateful layer.
TEST_F(TruncatedBptt, ShorterChunksEqualHandChunksWithDetachedStates) {
  Grads full = full_bptt();
  std::vector<double> losses = train_truncated_bptt(m, x, y, {.k = 3});
  Grads truncated = grads_of(m);
  ASSERT_EQ(losses.size(), 3u);
  EXPECT_FALSE(rnn_of(m).options().stateful);  // given back as it was
  EXPECT_TRUE(rnn_of(m).carried_states().empty());

  m.zero_grad();
  RNN& rnn = rnn_of(m);
  States states;
  std::vector<double> hand_losses;
  for (auto [start, len] : {std::pair{0, 3}, std::pair{3, 3}, std::pair{6, 2}}) {
    auto [h, final_states] = rnn.forward_with_states(slice(x, 1, start, len), states);
    Tensor loss = mse(slice(y, 1, start, len), m[1](h));
    hand_losses.push_back(loss.item());
    loss.backward();
    states = States();
    for (const Tensor& s : final_states) states.push_back(s.detach());
  }
  expect_same(truncated, grads_of(m), 1e-12);
  for (std::size_t i = 0; i < 3; ++i) expect_close(losses[i], hand_losses[i], 1e-12, "chunk loss");
  EXPECT_GT(max_difference(truncated, full), 1e-4);  // truncation changes the gradient
}

TEST_F(TruncatedBptt, OneOptimizerStepPerChunkAndClearErrors) {
  SGD sgd(m.parameters(), 0.1);
  std::vector<double> before = m.parameters()[1].to_vector();
  std::vector<double> losses = train_truncated_bptt(m, x, y, {.k = 3, .optimizer = &sgd});
  EXPECT_EQ(losses.size(), 3u);
  EXPECT_EQ(sgd.iterations(), 3);
  EXPECT_NE(m.parameters()[1].to_vector(), before);
  EXPECT_THAT(error_of<ValueError>([&] { train_truncated_bptt(m, x, y, {.k = 0}); }), HasSubstr("k must be"));
  EXPECT_THAT(error_of<ShapeError>([&] { train_truncated_bptt(m, x, slice(y, 1, 0, 5), {.k = 2}); }),
              HasSubstr("time sizes"));
  Sequential dense_only(Input{3}, Dense(1));
  EXPECT_THAT(error_of<ValueError>([&] { train_truncated_bptt(dense_only, x, y, {.k = 2}); }),
              HasSubstr("no recurrent layer"));
}

// ---- graph export -----------------------------------------------------------------------------

TEST(ModelDot, SimpleRnnUnrolledOverFiveSteps) {
  manual_seed(1);
  Sequential m(Input{None, 1}, SimpleRNN(2), Dense(1));
  std::string dot = model_to_dot(m, ones({1, 5, 1}));
  EXPECT_EQ(tape().num_nodes(), 0u);          // the recording is freed
  EXPECT_EQ(count(dot, "class=\"op\""), 7u);  // linear, 5 steps, the dense layer
  EXPECT_EQ(count(dot, "label=\"rnn_tanh_step\""), 5u);
  EXPECT_EQ(count(dot, "class=\"parameter\""), 5u);  // kernel, recurrent kernel, bias, dense kernel and bias
  EXPECT_THAT(dot, HasSubstr("label=\"simple_rnn.cell.recurrent_kernel\\n[2,2]\""));
  EXPECT_THAT(dot, HasSubstr("label=\"dense.kernel\\n[2,1]\""));
  EXPECT_THAT(dot, HasSubstr("label=\"input\\n[1,5,1]\""));
  EXPECT_EQ(count(dot, "class=\"output\""), 1u);
  EXPECT_THAT(dot, HasSubstr("[label=\"[1,1]\"]"));    // the output edge
  EXPECT_THAT(dot, HasSubstr("[label=\"[1,5,2]\"]"));  // the projected inputs into each step
  // The recurrent kernel feeds every step: 5 edges leave its node.
  std::size_t at = dot.find("simple_rnn.cell.recurrent_kernel");
  std::size_t line = dot.rfind('\n', at) + 1;
  std::string id = dot.substr(line + 2, dot.find(' ', line + 2) - line - 2);
  EXPECT_EQ(count(dot, "  " + id + " -> "), 5u);
  EXPECT_FALSE(tape().trace_inputs());
}

TEST(ModelDot, RefusesWhenSomethingIsRecorded) {
  Sequential m(Input{None, 1}, SimpleRNN(2));
  Tensor w = ones({1}).requires_grad_();
  Tensor y = w * 2.0;
  EXPECT_THAT(error_of<GraphError>([&] { model_to_dot(m, ones({1, 3, 1})); }), HasSubstr("already holds 1"));
  NoGradGuard off;
  EXPECT_THAT(error_of<GraphError>([&] { model_to_dot(m, ones({1, 3, 1})); }), HasSubstr("recording is off"));
}

}  // namespace
}  // namespace tg

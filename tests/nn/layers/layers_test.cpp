#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

using ::testing::HasSubstr;

TEST(Summary, SeedParameterCounts) {
  Sequential linear(Input{50, 1}, Flatten(), Dense(1));
  EXPECT_EQ(linear.num_parameters(), 51);
  Sequential simple(Input{None, 1}, SimpleRNN(1));
  EXPECT_EQ(simple.num_parameters(), 3);
  Sequential deep(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20), Dense(1));
  EXPECT_EQ(deep[0].num_parameters(), 440);
  EXPECT_EQ(deep[1].num_parameters(), 820);
  EXPECT_EQ(deep[2].num_parameters(), 21);
  std::string s = deep.summary();
  EXPECT_THAT(s, HasSubstr("simple_rnn (SimpleRNN)"));
  EXPECT_THAT(s, HasSubstr("simple_rnn_1 (SimpleRNN)"));
  EXPECT_THAT(s, HasSubstr("(None, None, 20)"));
  EXPECT_THAT(s, HasSubstr("(None, 1)"));
  EXPECT_THAT(s, HasSubstr("Total params: 1281"));
  EXPECT_THAT(s, HasSubstr("Trainable params: 1281\nNon-trainable params: 0\n"));
}

TEST(Summary, CountsFrozenParametersAsNonTrainable) {
  Sequential deep(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20), Dense(1));
  for (Tensor p : deep[0].parameters()) p.requires_grad_(false);  // freeze the first layer
  deep[2].parameters()[1].requires_grad_(false);                  // and the Dense bias
  const std::string s = deep.summary();
  EXPECT_THAT(s, HasSubstr("Total params: 1281\nTrainable params: 840\nNon-trainable params: 441\n"));
}

TEST(Summary, NamedParameterPaths) {
  Sequential m(Input{None, 1}, SimpleRNN(2), Dense(1));
  auto named = m.named_parameters();
  ASSERT_EQ(named.size(), 5u);
  EXPECT_EQ(named[0].first, "simple_rnn.cell.kernel");
  EXPECT_EQ(named[1].first, "simple_rnn.cell.recurrent_kernel");
  EXPECT_EQ(named[2].first, "simple_rnn.cell.bias");
  EXPECT_EQ(named[3].first, "dense.kernel");
}

TEST(Init, OrthogonalIsOrthonormal) {
  Generator g(3);
  for (auto [r, c] : {std::pair<int, int>{20, 20}, {5, 3}, {3, 5}}) {
    Tensor q = init::orthogonal(r, c, 1.0, DType::f64, &g);
    // Q^T Q = I for tall, Q Q^T = I for wide.
    Tensor p = r >= c ? matmul(transpose(q), q) : matmul(q, transpose(q));
    const int n = std::min(r, c);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) EXPECT_NEAR(p.at({i, j}), i == j ? 1.0 : 0.0, 1e-12);
  }
}

TEST(Init, GlorotUniformLimit) {
  Generator g(1);
  Tensor w = init::glorot_uniform(50, 1, DType::f64, &g);
  const double limit = std::sqrt(6.0 / 51.0);
  double lo = 1, hi = -1;
  for (double v : w.to_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  EXPECT_LT(lo, -limit / 2);  // the draws spread over the range
  EXPECT_GT(hi, limit / 2);
}

// Gradient checks: float64 models, every parameter perturbed through the checker's inputs.
GradcheckResult check_model(Module& model, const Tensor& x) {
  model.to(DType::f64);
  std::vector<Tensor> leaves = model.parameters();
  Tensor input = x.clone();
  leaves.push_back(input);
  return gradcheck_leaves([&] { return model(input); }, leaves);
}

TEST(GradCheck, Dense) {
  manual_seed(1);
  Sequential m(Input{4}, Dense(3, activations::tanh));
  Generator g(2);
  auto r = check_model(m, randn({5, 4}, DType::f64, &g));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GradCheck, DenseOnSequences) {
  manual_seed(1);
  Sequential m(Input{None, 4}, Dense(3, activations::sigmoid));
  Generator g(2);
  auto r = check_model(m, randn({2, 3, 4}, DType::f64, &g));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GradCheck, TwoLayerSimpleRNNOverSevenStepsWithSequences) {
  manual_seed(3);
  Sequential m(Input{None, 2}, SimpleRNN(4, {.return_sequences = true}), SimpleRNN(3, {.return_sequences = true}));
  Generator g(4);
  auto r = check_model(m, randn({3, 7, 2}, DType::f64, &g));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GradCheck, SimpleRNNWithReluUsesTheGenericPath) {
  manual_seed(3);
  Sequential m(Input{None, 2}, SimpleRNN(3, {}, activations::relu), Dense(1));
  Generator g(5);
  auto r = check_model(m, randn({2, 4, 2}, DType::f64, &g));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GradCheck, TimeDistributedDense) {
  manual_seed(4);
  Sequential m(Input{None, 3}, TimeDistributed(Dense(2)));
  Generator g(6);
  auto r = check_model(m, randn({2, 5, 3}, DType::f64, &g));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GradCheck, Seq2SeqStack) {
  manual_seed(5);
  Sequential m(Input{None, 1}, SimpleRNN(4, {.return_sequences = true}), SimpleRNN(4, {.return_sequences = true}),
               TimeDistributed(Dense(3)));
  Generator g(7);
  auto r = check_model(m, randn({2, 6, 1}, DType::f64, &g));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GradCheck, FlattenDense) {
  manual_seed(6);
  Sequential m(Input{5, 1}, Flatten(), Dense(1));
  Generator g(8);
  auto r = check_model(m, randn({4, 5, 1}, DType::f64, &g));
  EXPECT_TRUE(r.ok) << r.message;
}

// A user-written cell: a leaky RNN step h = (1 - a) h + a tanh(x W + h U), built from stock ops.
struct LeakyCell : RecurrentCell {
  explicit LeakyCell(std::int64_t units) : RecurrentCell("LeakyCell"), units_(units) {}
  std::vector<std::int64_t> state_sizes() const override { return {units_}; }
  Dims on_build(const Dims& input) override {
    w = register_parameter("w", init::glorot_uniform(input.back(), units_));
    u = register_parameter("u", init::orthogonal(units_, units_));
    return {-1, units_};
  }
  Tensor prepare(const Tensor& x) override { return matmul(x, w); }
  States step(const Tensor& xw, std::int64_t t, const States& s) override {
    Tensor h = zeros_if_undefined(s[0], xw.size(0), units_, xw.dtype());
    return {h * 0.7 + tanh(select(xw, 1, t) + matmul(h, u)) * 0.3};
  }
  Tensor w, u;
  std::int64_t units_;
};

TEST(CustomCell, WorksInStacksAndPassesGradcheck) {
  manual_seed(7);
  Sequential m(Input{None, 2}, RNN(std::make_shared<LeakyCell>(3), {.return_sequences = true}), SimpleRNN(2), Dense(1));
  EXPECT_EQ(m[0].num_parameters(), 2 * 3 + 3 * 3);
  Generator g(9);
  auto r = check_model(m, randn({2, 5, 2}, DType::f64, &g));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(RNN, OutputShapesAndVariableLength) {
  manual_seed(8);
  Sequential m(Input{None, 1}, SimpleRNN(5, {.return_sequences = true}), SimpleRNN(4));
  EXPECT_EQ(m(zeros({3, 7, 1})).shape(), (Shape{3, 4}));
  EXPECT_EQ(m(zeros({2, 50, 1})).shape(), (Shape{2, 4}));
  EXPECT_EQ(m[0](zeros({2, 9, 1})).shape(), (Shape{2, 9, 5}));
}

TEST(RNN, FusedStepMatchesGenericOps) {
  manual_seed(9);
  SimpleRNN rnn(4, {.return_sequences = true});
  Generator g(10);
  Tensor x = randn({3, 6, 2}, DType::f32, &g);
  Tensor fused = rnn(x);
  auto& cell = static_cast<SimpleRNNCell&>(rnn.cell());
  Tensor h;
  std::vector<Tensor> hs;
  for (int t = 0; t < 6; ++t) {
    Tensor z = matmul(select(x, 1, t), cell.kernel) + cell.bias;
    if (h.defined()) z = z + matmul(h, cell.recurrent_kernel);
    h = tanh(z);
    hs.push_back(h);
  }
  Tensor ref = stack(hs, 1);
  for (std::int64_t i = 0; i < ref.numel(); ++i)
    EXPECT_NEAR(fused.to_vector()[static_cast<std::size_t>(i)], ref.to_vector()[static_cast<std::size_t>(i)], 1e-6);
}

TEST(RNN, BadInputsAreTypedErrors) {
  Sequential m(Input{None, 2}, SimpleRNN(3));
  try {
    m(zeros({4, 2}));
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("SimpleRNN"));
    EXPECT_THAT(e.what(), HasSubstr("[4,2]"));
  }
  EXPECT_THROW(m(zeros({4, 0, 2})), ValueError);
  EXPECT_THROW(m(zeros({4, 3, 5})), Error);
  EXPECT_EQ(m(zeros({4, 3, 2})).shape(), (Shape{4, 3}));  // still usable
}

TEST(RNN, KeepStepOutputsExposesGradientsOverTime) {
  manual_seed(10);
  SimpleRNN rnn(3, {.keep_step_outputs = true});
  Generator g(11);
  Tensor y = sum(rnn(randn({2, 5, 1}, DType::f32, &g)));
  y.backward();
  ASSERT_EQ(rnn.step_outputs().size(), 5u);
  for (const Tensor& h : rnn.step_outputs()) EXPECT_TRUE(h.grad().defined());
}

TEST(Graph, DotExportShowsUnrolledSteps) {
  manual_seed(11);
  Sequential m(Input{None, 1}, SimpleRNN(2));
  Tensor y = sum(m(ones({1, 5, 1})));
  std::string dot = tape().to_dot();
  std::size_t steps = 0;
  for (std::size_t p = dot.find("rnn_tanh_step"); p != std::string::npos; p = dot.find("rnn_tanh_step", p + 1)) ++steps;
  EXPECT_EQ(steps, 5u);
  EXPECT_THAT(dot, HasSubstr("recurrent_kernel"));
}

}  // namespace
}  // namespace tg

// LSTM and GRU layers: Keras' parameter counts, layouts and initial values; PyTorch goldens of a
// two-layer stack (tests/goldens/gated.txt from scripts/make_gated_goldens.py: torch.nn.LSTM/GRU
// on weights mapped from ours as nn/recurrent/lstm.h and nn/recurrent/gru.h document); float64 gradient checks on
// the cells, the layers, stacks and initial states; the tape holds one node per step.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"
#include "support/error_of.h"

namespace tg {
namespace {

using ::testing::HasSubstr;

TEST(GatedLayers, KerasParameterCounts) {
  Sequential lstm(Input{None, 1}, LSTM(20));
  EXPECT_EQ(lstm.num_parameters(), 1760);
  Sequential gru(Input{None, 1}, GRU(20));
  EXPECT_EQ(gru.num_parameters(), 1380);
  Sequential stack(Input{None, 1}, LSTM(20, {.return_sequences = true}), LSTM(20), Dense(1));
  EXPECT_EQ(stack[1].num_parameters(), 4 * 20 * (20 + 20 + 1));
  std::string s = stack.summary();
  EXPECT_THAT(s, HasSubstr("lstm (LSTM)"));
  EXPECT_THAT(s, HasSubstr("lstm_1 (LSTM)"));
  EXPECT_THAT(s, HasSubstr("(None, None, 20)"));
  Sequential g2(Input{None, 1}, GRU(20, {.return_sequences = true}), GRU(20, {.return_sequences = true}),
                TimeDistributed(Dense(10)));
  EXPECT_EQ(g2.num_parameters(), 1380 + 3 * 20 * (20 + 20 + 2) + 210);
  EXPECT_THAT(g2.summary(), HasSubstr("gru_1 (GRU)"));
}

TEST(GatedLayers, KerasLayoutsAndInitialValues) {
  manual_seed(3);
  LSTM lstm(4);
  lstm.build({-1, -1, 2});
  auto& lc = static_cast<LSTMCell&>(lstm.cell());
  EXPECT_EQ(lc.kernel.shape(), (Shape{2, 16}));
  EXPECT_EQ(lc.recurrent_kernel.shape(), (Shape{4, 16}));
  ASSERT_EQ(lc.bias.shape(), (Shape{16}));
  for (std::int64_t j = 0; j < 16; ++j)  // unit_forget_bias: ones in block f only
    EXPECT_EQ(lc.bias.at({j}), j >= 4 && j < 8 ? 1.0 : 0.0) << j;
  const double limit = std::sqrt(6.0 / (2 + 16));
  for (double v : lc.kernel.to_vector()) EXPECT_LE(std::abs(v), limit);
  // Orthogonal [u, 4u]: orthonormal rows.
  Tensor rrt = matmul(lc.recurrent_kernel, transpose(lc.recurrent_kernel));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(rrt.at({i, j}), i == j ? 1.0 : 0.0, 1e-5);
  auto named = lstm.named_parameters();
  ASSERT_EQ(named.size(), 3u);
  EXPECT_EQ(named[0].first, "cell.kernel");

  GRU gru(5);
  gru.build({-1, -1, 3});
  auto& gc = static_cast<GRUCell&>(gru.cell());
  EXPECT_EQ(gc.kernel.shape(), (Shape{3, 15}));
  EXPECT_EQ(gc.recurrent_kernel.shape(), (Shape{5, 15}));
  EXPECT_EQ(gc.bias.shape(), (Shape{2, 15}));
  for (double v : gc.bias.to_vector()) EXPECT_EQ(v, 0.0);
  Tensor g = matmul(gc.recurrent_kernel, transpose(gc.recurrent_kernel));
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(g.at({i, i}), 1.0, 1e-5);
}

// ---- PyTorch goldens ------------------------------------------------------------------------------

const golden::GoldenCase& gated_case(const std::string& name, DType dtype) {
  static const std::vector<golden::GoldenCase> cases =
      golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/gated.txt");
  for (const golden::GoldenCase& c : cases)
    if (c.name == name && c.dtype == dtype) return c;
  throw ValueError("no golden case " + name + " " + std::string(dtype_name(dtype)));
}

// Loads the case's weights (Keras layouts, by tapegrad's parameter names), runs forward, the mse
// and backward, and compares prediction, loss and every gradient with PyTorch's.
void check_stack(Sequential& model, const golden::GoldenCase& c) {
  model.to(c.dtype);
  auto params = model.named_parameters();
  ASSERT_EQ(c.inputs.size(), params.size() + 2);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const golden::GoldenTensor& w = c.inputs[i + 2];
    ASSERT_EQ(params[i].first, w.name);
    ASSERT_EQ(params[i].second.shape(), w.tg_shape()) << w.name;
    params[i].second.copy_from(w.to_tensor(c.dtype));
  }
  model.zero_grad();
  Tensor pred = model(c.input("x").to_tensor(c.dtype));
  golden::expect_matches(pred, c.value("prediction"), c.dtype, "prediction");
  Tensor loss = mse(c.input("target").to_tensor(c.dtype), pred);
  golden::expect_matches(loss, c.output(), c.dtype, "loss");
  loss.backward();
  ASSERT_EQ(c.grads.size(), params.size());
  for (const auto& [name, p] : params) golden::expect_matches(p.grad(), c.grad(name), c.dtype, "grad " + name);
}

Sequential lstm_stack() {
  return Sequential(Input{None, 2}, LSTM(5, {.return_sequences = true}), LSTM(4, {.return_sequences = true}));
}
Sequential gru_stack() {
  return Sequential(Input{None, 2}, GRU(5, {.return_sequences = true}), GRU(4, {.return_sequences = true}));
}

TEST(GatedGoldens, LstmStackFloat64) {
  auto m = lstm_stack();
  check_stack(m, gated_case("lstm_stack", DType::f64));
}
TEST(GatedGoldens, LstmStackFloat32) {
  auto m = lstm_stack();
  check_stack(m, gated_case("lstm_stack", DType::f32));
}
TEST(GatedGoldens, GruStackFloat64) {
  auto m = gru_stack();
  check_stack(m, gated_case("gru_stack", DType::f64));
}
TEST(GatedGoldens, GruStackFloat32) {
  auto m = gru_stack();
  check_stack(m, gated_case("gru_stack", DType::f32));
}

// ---- gradient checks (float64) --------------------------------------------------------------------

GradcheckResult check_module(Module& m, const Tensor& x) {
  if (!m.built())
    m.build([&] {
      Dims d(static_cast<std::size_t>(x.rank()), -1);
      d.back() = x.size(-1);
      return d;
    }());
  m.to(DType::f64);
  std::vector<Tensor> leaves = m.parameters();
  Tensor input = x.clone();
  leaves.push_back(input);
  return gradcheck_leaves([&] { return m(input); }, leaves);
}

Tensor rand64(const Shape& s, std::uint32_t seed) {
  Generator g(seed);
  return randn(s, DType::f64, &g);
}

TEST(GatedGradcheck, CellsOnOneStep) {
  manual_seed(11);
  LSTMCell lstm(3);
  auto r = check_module(lstm, rand64({4, 2}, 1));
  EXPECT_TRUE(r.ok) << r.message;
  GRUCell gru(3);
  r = check_module(gru, rand64({4, 2}, 2));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GatedGradcheck, LayersOverSixStepsLastAndSequences) {
  manual_seed(12);
  for (bool seq : {false, true}) {
    SCOPED_TRACE(seq ? "return_sequences" : "last step");
    LSTM lstm(3, {.return_sequences = seq});
    auto r = check_module(lstm, rand64({2, 6, 2}, 3));
    EXPECT_TRUE(r.ok) << r.message;
    GRU gru(3, {.return_sequences = seq});
    r = check_module(gru, rand64({2, 6, 2}, 4));
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(GatedGradcheck, StacksWithDense) {
  manual_seed(13);
  Sequential lstm(Input{None, 2}, LSTM(4, {.return_sequences = true}), LSTM(3), Dense(2));
  auto r = check_module(lstm, rand64({3, 5, 2}, 5));
  EXPECT_TRUE(r.ok) << r.message;
  Sequential gru(Input{None, 1}, GRU(4, {.return_sequences = true}), GRU(3, {.return_sequences = true}),
                 TimeDistributed(Dense(2)));
  r = check_module(gru, rand64({2, 5, 1}, 6));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GatedGradcheck, ThroughGivenInitialStates) {
  manual_seed(14);
  LSTM lstm(3, {.return_sequences = true});
  lstm.build({-1, -1, 2});
  lstm.to(DType::f64);
  Tensor x = rand64({2, 4, 2}, 7), h0 = rand64({2, 3}, 8), c0 = rand64({2, 3}, 9);
  std::vector<Tensor> leaves = lstm.parameters();
  for (const Tensor& t : {x, h0, c0}) leaves.push_back(t);
  auto r = gradcheck_leaves(
      [&] {
        auto [out, states] = lstm.forward_with_states(x, {h0, c0});
        return concat(std::vector<Tensor>{reshape(out, {2, 12}), states[0], states[1]}, 1);  // h_t and the final c
      },
      leaves);
  EXPECT_TRUE(r.ok) << r.message;

  GRU gru(3);
  gru.build({-1, -1, 2});
  gru.to(DType::f64);
  leaves = gru.parameters();
  leaves.push_back(x);
  leaves.push_back(h0);
  r = gradcheck_leaves([&] { return gru.forward_with_states(x, {h0}).first; }, leaves);
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GatedLayers, FinalStatesAndOneNodePerStep) {
  manual_seed(15);
  LSTM lstm(4, {.return_sequences = true});
  Tensor x = randn({3, 7, 2});
  auto [out, states] = lstm.forward_with_states(x, {});
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(out.shape(), (Shape{3, 7, 4}));
  const std::vector<double> last = select(out, 1, 6).to_vector(), h = states[0].to_vector();
  EXPECT_EQ(last, h);
  EXPECT_EQ(states[1].shape(), (Shape{3, 4}));
  tape().clear();
  // A layer records its input projection, one node per step and the stack of the outputs.
  const std::size_t before = tape().num_nodes();
  Tensor y = lstm(x);
  EXPECT_EQ(tape().num_nodes() - before, 1u + 7u + 1u);
  GRU gru(4);
  tape().clear();
  Tensor z = gru(x);
  EXPECT_EQ(tape().num_nodes(), 2u + 7u);  // the input bias row, the projection, 7 steps
  tape().clear();
}

TEST(GatedLayers, BadInputsNameTheLayer) {
  Sequential m(Input{None, 2}, LSTM(3));
  EXPECT_THAT(testing::error_of<ShapeError>([&] { m(zeros({4, 2})); }), HasSubstr("LSTM"));
  EXPECT_THAT(testing::error_of<ValueError>([] { LSTM(0); }), HasSubstr("LSTMCell: units must be positive, got 0"));
  EXPECT_THAT(testing::error_of<ValueError>([] { GRU(-2); }), HasSubstr("GRUCell: units must be positive, got -2"));
  GRU gru(2);
  EXPECT_THAT(testing::error_of<ValueError>([&] {
                gru.forward_with_states(zeros({1, 3, 2}), {zeros({1, 2}), zeros({1, 2})});
              }),
              HasSubstr("2 initial states given, the cell has 1"));
}

}  // namespace
}  // namespace tg

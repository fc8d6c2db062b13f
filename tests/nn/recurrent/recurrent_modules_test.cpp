// The recurrent family as modules: clone (a deep copy) of every built-in cell and recurrent layer,
// Bidirectional over LSTM and GRU (their cells clone); GRU with reset_after = false (Keras' other
// layout): parameters, float64 gradient checks, and goldens from Keras' equations
// (tests/goldens/gated.txt, case gru_v1_stack, from scripts/make_gated_goldens.py).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"

namespace tg {
namespace {

using ::testing::HasSubstr;

Tensor rand64(const Shape& s, std::uint32_t seed) {
  Generator g(seed);
  return randn(s, DType::f64, &g);
}

bool same_values(const Tensor& a, const Tensor& b) { return a.shape() == b.shape() && a.to_vector() == b.to_vector(); }

void expect_deep_copy(Module& original, const Tensor& x) {
  SCOPED_TRACE(original.type_name());
  Tensor y = original(x);
  std::shared_ptr<Module> copy = original.clone();
  ASSERT_TRUE(copy);
  EXPECT_EQ(typeid(*copy), typeid(original));
  EXPECT_EQ(copy->type_name(), original.type_name());
  EXPECT_TRUE(same_values((*copy)(x), y));
  auto a = original.named_parameters();
  auto b = copy->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(same_values(a[i].second, b[i].second)) << a[i].first;
  }
  for (auto& [n, p] : b) p.fill_(0.125);
  EXPECT_TRUE(same_values(original(x), y)) << "the copy shares weights with the original";
  EXPECT_FALSE(same_values((*copy)(x), y));
}

TEST(RecurrentClone, EveryCellAndLayerIsADeepCopy) {
  manual_seed(21);
  Tensor step = rand64({2, 3}, 1).to(DType::f32);
  Tensor seq = rand64({2, 4, 3}, 2).to(DType::f32);
  {
    SimpleRNNCell c(4, activations::relu);
    expect_deep_copy(c, step);
  }
  {
    LSTMCell c(4);
    expect_deep_copy(c, step);
  }
  {
    GRUCell c(4);
    expect_deep_copy(c, step);
  }
  {
    GRUCell c(4, {.reset_after = false});
    expect_deep_copy(c, step);
  }
  {
    LNSimpleRNNCell c(4);
    expect_deep_copy(c, step);
  }
  {
    SimpleRNN l(4, {.return_sequences = true});
    expect_deep_copy(l, seq);
  }
  {
    LSTM l(4);
    expect_deep_copy(l, seq);
  }
  {
    GRU l(4, {.return_sequences = true}, {.reset_after = false});
    expect_deep_copy(l, seq);
  }
  {
    RNN l(std::make_shared<LNSimpleRNNCell>(3));
    expect_deep_copy(l, seq);
  }
  {
    Bidirectional b(LSTM(3, {.return_sequences = true}), MergeMode::sum);
    expect_deep_copy(b, seq);
  }
  {
    Sequential s(Input{None, 3}, Bidirectional(GRU(4, {.return_sequences = true})), GRU(3), Dense(1));
    expect_deep_copy(s, seq);
  }
}

TEST(RecurrentClone, BidirectionalOverLstmAndGruBuildsWithWeightsOfItsOwn) {
  manual_seed(22);
  for (int kind = 0; kind < 3; ++kind) {
    std::shared_ptr<RNN> layer;
    if (kind == 0) layer = std::make_shared<LSTM>(32);
    if (kind == 1) layer = std::make_shared<GRU>(32);
    if (kind == 2) layer = std::make_shared<GRU>(32, RNNOptions{}, GRUOptions{.reset_after = false});
    Bidirectional b(layer);
    Tensor y = b(rand64({2, 5, 3}, 3).to(DType::f32));
    EXPECT_EQ(y.shape(), Shape({2, 64}));
    EXPECT_EQ(b.backward_layer().type_name(), layer->type_name());
    EXPECT_EQ(typeid(b.backward_layer()), typeid(*layer));
    EXPECT_EQ(b.forward_layer().num_parameters(), b.backward_layer().num_parameters());
    EXPECT_FALSE(same_values(b.forward_layer().parameters()[0], b.backward_layer().parameters()[0]));
  }
}

TEST(RecurrentClone, ACellWithoutCloneUnbuiltIsNamedInTheError) {
  struct Plain : RecurrentCell {
    Plain() : RecurrentCell("PlainCell") {}
    std::vector<std::int64_t> state_sizes() const override { return {2}; }
    States step(const Tensor& x, std::int64_t t, const States&) override { return {select(x, 1, t)}; }
  };
  try {
    Bidirectional b(RNN(std::make_shared<Plain>()));
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("PlainCell"));
  }
}

// ---- GRU reset_after = false ----------------------------------------------------------------------

TEST(GruResetBefore, KerasLayoutAndParameterCount) {
  Sequential m(Input{None, 1}, GRU(20, {}, {.reset_after = false}));
  EXPECT_EQ(m.num_parameters(), 1320);  // Keras' GRU(20, reset_after=False) on one feature
  auto& cell = static_cast<GRUCell&>(static_cast<GRU&>(m[0]).cell());
  EXPECT_FALSE(cell.reset_after());
  EXPECT_EQ(cell.bias.shape(), Shape({60}));
  EXPECT_EQ(cell.kernel.shape(), Shape({1, 60}));
  EXPECT_EQ(cell.recurrent_kernel.shape(), Shape({20, 60}));
}

TEST(GruResetBefore, DiffersFromResetAfterOnTheSameWeights) {
  manual_seed(23);
  GRU after(3, {}, {.reset_after = true});
  GRU before(3, {}, {.reset_after = false});
  Tensor x = rand64({2, 4, 2}, 4).to(DType::f32);
  after(x);
  before(x);
  auto& ca = static_cast<GRUCell&>(after.cell());
  auto& cb = static_cast<GRUCell&>(before.cell());
  cb.kernel.copy_from(ca.kernel);
  cb.recurrent_kernel.copy_from(ca.recurrent_kernel);
  cb.bias.fill_(0.1);
  ca.bias.copy_from([&] {  // recurrent row zero: only where r is applied differs
    Tensor b = zeros({2, 9});
    for (std::int64_t j = 0; j < 9; ++j) b.set({0, j}, 0.1);
    return b;
  }());
  EXPECT_FALSE(same_values(after(x), before(x)));
}

GradcheckResult check_module(Module& m, const Tensor& x) {
  if (!m.built()) {
    Dims d(static_cast<std::size_t>(x.rank()), -1);
    d.back() = x.size(-1);
    m.build(d);
  }
  m.to(DType::f64);
  std::vector<Tensor> leaves = m.parameters();
  Tensor input = x.clone();
  leaves.push_back(input);
  return gradcheck_leaves([&] { return m(input); }, leaves);
}

TEST(GruResetBefore, GradcheckFloat64) {
  manual_seed(24);
  GRUCell cell(3, {.reset_after = false});
  auto r = check_module(cell, rand64({4, 2}, 5));
  EXPECT_TRUE(r.ok) << r.message;
  for (bool seq : {false, true}) {
    GRU gru(3, {.return_sequences = seq}, {.reset_after = false});
    r = check_module(gru, rand64({2, 6, 2}, 6));
    EXPECT_TRUE(r.ok) << r.message;
  }
  Bidirectional b(GRU(2, {.return_sequences = true}, {.reset_after = false}));
  r = check_module(b, rand64({2, 4, 2}, 7));
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(GruResetBefore, MasksKeepStatesAsForResetAfter) {
  manual_seed(25);
  GRU gru(3, {}, {.reset_after = false});
  Tensor x = rand64({1, 5, 2}, 8).to(DType::f32);
  Tensor mask = from_vector(std::vector<double>{1, 1, 1, 0, 0}, Shape{1, 5});
  Tensor masked = gru(x, mask);
  Tensor first3 = gru(slice(x, 1, 0, 3));
  EXPECT_TRUE(same_values(masked, first3));
}

const golden::GoldenCase& v1_case(DType dtype) {
  static const std::vector<golden::GoldenCase> cases =
      golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/gated.txt");
  for (const golden::GoldenCase& c : cases)
    if (c.name == "gru_v1_stack" && c.dtype == dtype) return c;
  throw ValueError("no golden case gru_v1_stack");
}

TEST(GruResetBefore, StackMatchesKerasEquationsFloat64AndFloat32) {
  for (DType dtype : {DType::f64, DType::f32}) {
    SCOPED_TRACE(dtype_name(dtype));
    const golden::GoldenCase& c = v1_case(dtype);
    Sequential model(Input{None, 2}, GRU(5, {.return_sequences = true}, {.reset_after = false}),
                     GRU(4, {.return_sequences = true}, {.reset_after = false}));
    model.to(dtype);
    auto params = model.named_parameters();
    ASSERT_EQ(c.inputs.size(), params.size() + 2);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const golden::GoldenTensor& w = c.inputs[i + 2];
      ASSERT_EQ(params[i].first, w.name);
      ASSERT_EQ(params[i].second.shape(), w.tg_shape()) << w.name;
      params[i].second.copy_from(w.to_tensor(dtype));
    }
    Tensor pred = model(c.input("x").to_tensor(dtype));
    golden::expect_matches(pred, c.value("prediction"), dtype, "prediction");
    Tensor loss = mse(c.input("target").to_tensor(dtype), pred);
    golden::expect_matches(loss, c.output(), dtype, "loss");
    loss.backward();
    for (const auto& [name, p] : params) golden::expect_matches(p.grad(), c.grad(name), dtype, "grad " + name);
  }
}

}  // namespace
}  // namespace tg

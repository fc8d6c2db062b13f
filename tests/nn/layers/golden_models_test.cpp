// PyTorch goldens of the seed post's models (tests/goldens/models.txt, from
// scripts/make_goldens.py): the deep RNN SimpleRNN(20, seq) + SimpleRNN(20) + Dense(1) and the
// seq2seq SimpleRNN(20, seq) x2 + TimeDistributed(Dense(10)), on batch 4 x 50 steps, with fixed
// random weights in Keras' layouts. tapegrad's Sequential models load those weights and must give
// PyTorch's prediction, mse loss and every parameter's gradient (golden::tolerance: 1e-10
// relative in float64, 1e-4 in float32).

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"

namespace tg {
namespace {

using golden::GoldenCase;

const std::vector<GoldenCase>& model_cases() {
  static const std::vector<GoldenCase> cases =
      golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/models.txt");
  return cases;
}

const GoldenCase& find_case(const std::string& name, DType dtype) {
  for (const GoldenCase& c : model_cases())
    if (c.name == name && c.dtype == dtype) return c;
  throw ValueError("no golden model case " + name + " " + std::string(dtype_name(dtype)));
}

std::unique_ptr<Sequential> deep_rnn() {
  return std::make_unique<Sequential>(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}), SimpleRNN(20),
                                      Dense(1));
}

std::unique_ptr<Sequential> seq2seq() {
  return std::make_unique<Sequential>(Input{None, 1}, SimpleRNN(20, {.return_sequences = true}),
                                      SimpleRNN(20, {.return_sequences = true}), TimeDistributed(Dense(10)));
}

/// Loads the golden's weights into `model` (converted to the case's dtype), runs forward, the mse
/// loss and backward, and compares the prediction, the loss and every parameter's gradient.
void check_model(Sequential& model, const GoldenCase& c) {
  model.to(c.dtype);
  auto params = model.named_parameters();
  // The golden lists x, target, then the parameters by tapegrad's names and in its order.
  ASSERT_EQ(c.inputs.size(), params.size() + 2);
  ASSERT_EQ(c.inputs[0].name, "x");
  ASSERT_EQ(c.inputs[1].name, "target");
  for (std::size_t i = 0; i < params.size(); ++i) {
    const golden::GoldenTensor& w = c.inputs[i + 2];
    ASSERT_EQ(params[i].first, w.name);
    ASSERT_EQ(params[i].second.shape(), w.tg_shape()) << w.name;  // Keras layouts: kernel [F,H], ...
    params[i].second.copy_from(w.to_tensor(c.dtype));
  }
  model.zero_grad();
  Tensor pred = model(c.input("x").to_tensor(c.dtype));
  golden::expect_matches(pred, c.value("prediction"), c.dtype, "prediction");
  Tensor loss = mse(c.input("target").to_tensor(c.dtype), pred);
  golden::expect_matches(loss, c.output(), c.dtype, "loss");
  loss.backward();
  ASSERT_EQ(c.grads.size(), params.size());
  for (std::size_t i = 0; i < params.size(); ++i)
    golden::expect_matches(params[i].second.grad(), c.grad(params[i].first), c.dtype, "grad " + params[i].first);
}

TEST(GoldenModels, ParameterNamesAndShapesAreKeras) {
  auto m = seq2seq();
  auto named = m->named_parameters();
  std::vector<std::string> names;
  for (const auto& [name, p] : named) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"simple_rnn.cell.kernel", "simple_rnn.cell.recurrent_kernel",
                                             "simple_rnn.cell.bias", "simple_rnn_1.cell.kernel",
                                             "simple_rnn_1.cell.recurrent_kernel", "simple_rnn_1.cell.bias",
                                             "time_distributed.layer.kernel", "time_distributed.layer.bias"}));
  EXPECT_EQ(named[0].second.shape(), (Shape{1, 20}));
  EXPECT_EQ(named[4].second.shape(), (Shape{20, 20}));
  EXPECT_EQ(named[6].second.shape(), (Shape{20, 10}));
}

TEST(GoldenModels, DeepRnnFloat64) {
  const GoldenCase& c = find_case("deep_rnn", DType::f64);
  EXPECT_EQ(c.input("x").shape, (std::vector<std::int64_t>{4, 50, 1}));
  EXPECT_EQ(c.input("target").shape, (std::vector<std::int64_t>{4, 1}));
  check_model(*deep_rnn(), c);
}

TEST(GoldenModels, DeepRnnFloat32) { check_model(*deep_rnn(), find_case("deep_rnn", DType::f32)); }

TEST(GoldenModels, Seq2SeqFloat64) {
  const GoldenCase& c = find_case("seq2seq", DType::f64);
  EXPECT_EQ(c.input("x").shape, (std::vector<std::int64_t>{4, 50, 1}));
  EXPECT_EQ(c.input("target").shape, (std::vector<std::int64_t>{4, 50, 10}));
  check_model(*seq2seq(), c);
}

TEST(GoldenModels, Seq2SeqFloat32) { check_model(*seq2seq(), find_case("seq2seq", DType::f32)); }

TEST(GoldenModels, GradientsAccumulateOverTwoBackwards) {
  // Backward adds into the gradients: two passes without zero_grad give twice PyTorch's gradient.
  const GoldenCase& c = find_case("deep_rnn", DType::f64);
  auto m = deep_rnn();
  m->to(DType::f64);
  auto params = m->named_parameters();
  for (auto& [name, p] : params) p.copy_from(c.input(name).to_tensor(DType::f64));
  for (int pass = 0; pass < 2; ++pass)
    mse(c.input("target").to_tensor(DType::f64), (*m)(c.input("x").to_tensor(DType::f64))).backward();
  for (const auto& [name, p] : params) {
    golden::GoldenTensor twice = c.grad(name);
    for (double& v : twice.values) v *= 2.0;
    golden::expect_matches(p.grad(), twice, DType::f64, "2 x grad " + name);
  }
}

}  // namespace
}  // namespace tg

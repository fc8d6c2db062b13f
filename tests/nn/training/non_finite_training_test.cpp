// NaN and infinity during training: fit stops before the step that would spoil the weights and
// names the epoch and the batch; anomaly detection names the op.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

using ::testing::AllOf;
using testing::error_of;
using ::testing::HasSubstr;

struct AnomalyOn {
  AnomalyOn() { tape().set_anomaly_detection(true); }
  ~AnomalyOn() { tape().set_anomaly_detection(false); }
};

std::vector<std::vector<double>> snapshot(const Module& m) {
  std::vector<std::vector<double>> v;
  for (const Tensor& p : m.parameters()) v.push_back(p.to_vector());
  return v;
}

struct Problem {
  Sequential model;
  Tensor x, y;
};

Problem make_problem() {
  manual_seed(5);
  Generator g(9);
  Tensor x = uniform({32, 5, 1}, -1, 1, DType::f32, &g);
  return {Sequential(Input{None, 1}, SimpleRNN(3), Dense(1)), x, select(x, 1, -1)};
}

// A loss that is finite but whose gradient is NaN from the `bad_call`-th call on (sqrt at 0 times
// 0), and that remembers the weights each batch starts from.
LossFn nan_gradient_loss(Module& model, int bad_call, int& calls, std::vector<std::vector<double>>& start) {
  return [&model, bad_call, &calls, &start](const Tensor& t, const Tensor& p) {
    start = snapshot(model);
    Tensor l = mse(t, p);
    return ++calls >= bad_call ? l + sum(sqrt(p * 0.0)) * 0.0 : l;
  };
}

TEST(NonFiniteTraining, NaNGradientWithAFiniteLossStopsBeforeTheStep) {
  Problem s = make_problem();
  SGD sgd(s.model.parameters(), 0.1);
  int calls = 0;
  std::vector<std::vector<double>> start;
  const std::string msg = error_of<ValueError>([&] {
    fit(s.model, s.x, s.y,
        {.epochs = 2,
         .batch_size = 8,
         .optimizer = &sgd,
         .loss = nan_gradient_loss(s.model, 6, calls, start),
         .verbose = 0});
  });
  EXPECT_THAT(msg,
              AllOf(HasSubstr("fit: the gradient of 'simple_rnn.cell.kernel' is not finite at epoch 2/2, batch 2/4"),
                    HasSubstr("weights from before this batch"), HasSubstr("set_anomaly_detection")));
  EXPECT_EQ(calls, 6);
  EXPECT_EQ(snapshot(s.model), start);  // the bad batch changed nothing
  for (const auto& p : start)
    for (double v : p) ASSERT_TRUE(std::isfinite(v));
  // The model trains on afterwards.
  History h = fit(s.model, s.x, s.y, {.batch_size = 8, .optimizer = &sgd, .verbose = 0});
  EXPECT_TRUE(std::isfinite(h["loss"].back()));
}

TEST(NonFiniteTraining, AnomalyModeNamesTheBackwardOp) {
  Problem s = make_problem();
  SGD sgd(s.model.parameters(), 0.1);
  int calls = 0;
  std::vector<std::vector<double>> start;
  AnomalyOn on;
  EXPECT_EQ(
      error_of<ValueError>([&] {
        fit(s.model, s.x, s.y,
            {.batch_size = 8, .optimizer = &sgd, .loss = nan_gradient_loss(s.model, 3, calls, start), .verbose = 0});
      }),
      "anomaly: sqrt backward produced a non-finite gradient for input 0 of shape [8,1]");
  EXPECT_EQ(snapshot(s.model), start);
}

TEST(NonFiniteTraining, AnomalyModeNamesTheForwardOp) {
  Problem s = make_problem();
  SGD sgd(s.model.parameters(), 0.1);
  LossFn log_of_negative = [](const Tensor& t, const Tensor& p) { return mse(t, p) + mean(log(p * 0.0 - 1.0)); };
  // Without anomaly mode: the loss, epoch and batch.
  EXPECT_THAT(error_of<ValueError>([&] {
                fit(s.model, s.x, s.y, {.batch_size = 8, .optimizer = &sgd, .loss = log_of_negative, .verbose = 0});
              }),
              AllOf(HasSubstr("fit: the loss is "), HasSubstr("nan at epoch 1/1, batch 1/4")));
  AnomalyOn on;
  EXPECT_EQ(error_of<ValueError>([&] {
              fit(s.model, s.x, s.y, {.batch_size = 8, .optimizer = &sgd, .loss = log_of_negative, .verbose = 0});
            }),
            "anomaly: log produced a non-finite value in its output of shape [8,1]");
}

TEST(NonFiniteTraining, DivergingWeightsAreCaughtAtTheFirstNonFiniteLoss) {
  Problem s = make_problem();
  SGD sgd(s.model.parameters(), 1e30);  // the first step throws the weights to infinity
  const std::string msg = error_of<ValueError>(
      [&] { fit(s.model, s.x, s.y * 1e6, {.epochs = 3, .batch_size = 8, .optimizer = &sgd, .verbose = 0}); });
  EXPECT_THAT(msg, AllOf(HasSubstr("fit: the "), HasSubstr("at epoch 1/3, batch")));
}

// ---- a finite gradient whose update overflows ----------------------------------------------------

// A linear RNN whose recurrent kernel is 1.2 I, over 150 steps: the states grow like 1.2^150
// (7e11), the loss is finite (~1e22) and so is every gradient, but Adam's g^2 overflows float32.
struct ExplodingRnn {
  bool seeded = (manual_seed(12), true);  // before the layers draw their weights
  Sequential model{Input{None, 1}, SimpleRNN(4, {}, activations::linear), Dense(1)};
  SimpleRNNCell* cell = nullptr;
  ExplodingRnn() {
    model.build({-1, 150, 1});
    cell = &dynamic_cast<SimpleRNNCell&>(dynamic_cast<RNN&>(model[0]).cell());
    set_recurrent_diagonal(1.2);
  }
  void set_recurrent_diagonal(double v) {
    Tensor u = zeros({4, 4});
    for (std::int64_t i = 0; i < 4; ++i) u.set({i, i}, v);
    cell->recurrent_kernel.copy_from(u);
  }
};

// Two identical models and optimizers trained alike from here on end with the same weights, bit for
// bit, only if their optimizer states (momenta, moving averages, step counts) are the same too.
template <class Model>
void expect_same_training_from_here(Model& a, Optimizer& opt_a, Model& b, Optimizer& opt_b, const Tensor& x,
                                    const Tensor& y) {
  EXPECT_EQ(opt_a.iterations(), opt_b.iterations());
  Generator ga(3), gb(3);
  fit(a.model, x, y, {.epochs = 2, .batch_size = 8, .optimizer = &opt_a, .verbose = 0, .generator = &ga});
  fit(b.model, x, y, {.epochs = 2, .batch_size = 8, .optimizer = &opt_b, .verbose = 0, .generator = &gb});
  EXPECT_EQ(snapshot(a.model), snapshot(b.model));
}

TEST(NonFiniteTraining, AnOptimizerStateThatOverflowsUndoesTheStep) {
  ExplodingRnn a, b;  // b never sees the bad step
  ASSERT_EQ(snapshot(a.model), snapshot(b.model));
  Adam adam_a(a.model.parameters(), 0.001), adam_b(b.model.parameters(), 0.001);
  Generator g(1);
  Tensor x = uniform({32, 150, 1}, -1, 1, DType::f32, &g), y = uniform({32, 1}, -1, 1, DType::f32, &g);
  const auto start = snapshot(a.model);
  // Without the check, fit returned normally and every later update of the RNN's kernel was 0
  // (m / sqrt(inf)).
  EXPECT_EQ(error_of<ValueError>([&] { fit(a.model, x, y, {.batch_size = 32, .optimizer = &adam_a, .verbose = 0}); }),
            "fit: the Adam update made its state for 'simple_rnn.cell.kernel' non-finite at epoch 1/1, batch 1/1; "
            "training stopped with the weights and the optimizer state from before this batch (lower the learning "
            "rate or clip the gradients)");
  EXPECT_EQ(snapshot(a.model), start);
  EXPECT_EQ(adam_a.iterations(), 0);
  // The state is back as it was: with a tamer recurrent kernel, a and b train alike.
  a.set_recurrent_diagonal(0.5);
  b.set_recurrent_diagonal(0.5);
  expect_same_training_from_here(a, adam_a, b, adam_b, x, y);
}

TEST(NonFiniteTraining, AnUpdateThatMakesAWeightInfiniteIsUndone) {
  Problem a = make_problem(), b = make_problem();
  ASSERT_EQ(snapshot(a.model), snapshot(b.model));
  SGD sgd_a(a.model.parameters(), 0.01, 0.9), sgd_b(b.model.parameters(), 0.01, 0.9);
  // One epoch alike, so the momentum buffers hold something.
  Generator ga(4), gb(4);
  fit(a.model, a.x, a.y, {.batch_size = 8, .optimizer = &sgd_a, .verbose = 0, .generator = &ga});
  fit(b.model, b.x, b.y, {.batch_size = 8, .optimizer = &sgd_b, .verbose = 0, .generator = &gb});
  const auto before = snapshot(a.model);
  ASSERT_EQ(before, snapshot(b.model));
  // lr 1e36 times a gradient of ~1e6 overflows float32: the weights went to -inf and fit went on.
  sgd_a.set_learning_rate(1e36);
  EXPECT_THAT(error_of<ValueError>([&] {
                fit(a.model, a.x, a.y * 1e6, {.epochs = 2, .batch_size = 8, .optimizer = &sgd_a, .verbose = 0});
              }),
              AllOf(HasSubstr("fit: the SGD update made 'simple_rnn.cell.kernel' non-finite at epoch 1/2, batch 1/4"),
                    HasSubstr("weights and the optimizer state from before this batch")));
  EXPECT_EQ(snapshot(a.model), before);
  sgd_a.set_learning_rate(0.01);
  expect_same_training_from_here(a, sgd_a, b, sgd_b, a.x, a.y);
}

TEST(NonFiniteTraining, TheFirstStepUndoneLeavesNoMomentum) {
  Problem a = make_problem(), b = make_problem();
  SGD sgd_a(a.model.parameters(), 1e36, 0.9), sgd_b(b.model.parameters(), 0.01, 0.9);
  EXPECT_THROW(fit(a.model, a.x, a.y * 1e6, {.batch_size = 8, .optimizer = &sgd_a, .verbose = 0}), ValueError);
  EXPECT_EQ(snapshot(a.model), snapshot(b.model));
  EXPECT_EQ(sgd_a.iterations(), 0);
  sgd_a.set_learning_rate(0.01);  // its first step starts the buffers from the gradient, as b's
  expect_same_training_from_here(a, sgd_a, b, sgd_b, a.x, a.y);
}

}  // namespace
}  // namespace tg

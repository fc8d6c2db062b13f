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
using ::testing::HasSubstr;
using testing::error_of;

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
        {.epochs = 2, .batch_size = 8, .optimizer = &sgd, .loss = nan_gradient_loss(s.model, 6, calls, start),
         .verbose = 0});
  });
  EXPECT_THAT(msg, AllOf(HasSubstr("fit: the gradient of 'simple_rnn.cell.kernel' is not finite at epoch 2/2, batch 2/4"),
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
  EXPECT_EQ(error_of<ValueError>([&] {
              fit(s.model, s.x, s.y,
                  {.batch_size = 8, .optimizer = &sgd, .loss = nan_gradient_loss(s.model, 3, calls, start),
                   .verbose = 0});
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

}  // namespace
}  // namespace tg

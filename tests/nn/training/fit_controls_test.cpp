// The parts fit is made of (TrainStep, BatchSource, BatchPlan) and the controls a user steers it
// with: callbacks at every level, learning-rate schedules, clipping, sample and class weights,
// validation_split and initial_epoch. Small float64 models, a few epochs each.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/core/file_io.h>
#include <tapegrad/nn/training/callbacks.h>
#include <tapegrad/nn/training/schedules.h>
#include <tapegrad/nn/training/train_step.h>
#include <tapegrad/optim/sgd.h>
#include "support/error_of.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

// y = x w + b, recording the rows it saw.
struct Linear : Module {
  Linear(std::int64_t in, std::int64_t out, std::uint32_t seed, DType dtype = DType::f64) : Module("Linear") {
    Generator g(seed);
    w = register_parameter("w", uniform({in, out}, -0.5, 0.5, dtype, &g));
    b = register_parameter("b", uniform({out}, -0.5, 0.5, dtype, &g));
  }
  Tensor forward(const Tensor& x) override {
    rows_seen += x.size(0);
    if (record) seen.push_back(x.to_vector());
    return linear(x, w, b);
  }
  std::vector<double> weights() const {
    std::vector<double> v = w.to_vector(), c = b.to_vector();
    v.insert(v.end(), c.begin(), c.end());
    return v;
  }
  Tensor w, b;
  std::int64_t rows_seen = 0;
  bool record = false;
  std::vector<std::vector<double>> seen;
};

std::pair<Tensor, Tensor> data(std::int64_t n, std::uint32_t seed, DType dtype = DType::f64) {
  Generator g(seed);
  Tensor x = uniform({n, 3}, -1, 1, dtype, &g);
  Tensor y = uniform({n, 2}, -2, 2, dtype, &g);
  return {x, y};
}

// The weights after one plain SGD step (lr 1) on the whole batch, with `edit` applied to the
// gradients (w, b) between backward and the update: what fit must reproduce.
template <class Edit>
std::vector<double> one_sgd_step_by_hand(std::uint32_t seed, const Tensor& x, const Tensor& y, Edit edit) {
  Linear m(3, 2, seed);
  mse(y, m(x)).backward();
  std::vector<double> gw = m.w.grad().to_vector(), gb = m.b.grad().to_vector();
  edit(gw, gb);
  std::vector<double> w = m.weights();
  for (std::size_t i = 0; i < gw.size(); ++i) w[i] -= gw[i];
  for (std::size_t i = 0; i < gb.size(); ++i) w[gw.size() + i] -= gb[i];
  return w;
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

void expect_near_all(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "element " << i;
}

// ---- TrainStep ------------------------------------------------------------------------------------

TEST(TrainStep, AUserLoopTakesTheVeryStepsOfFit) {
  auto [x, y] = data(12, 1);
  Linear a(3, 2, 7), b(3, 2, 7);
  SGD sa(a.parameters(), 0.1), sb(b.parameters(), 0.1);
  fit(a, x, y, {.epochs = 3, .batch_size = 4, .optimizer = &sa, .shuffle = false, .verbose = 0});
  TrainStep step(b, sb);
  std::vector<double> losses;
  for (int epoch = 0; epoch < 3; ++epoch)
    for (std::int64_t s = 0; s < 3; ++s) losses.push_back(step.run(slice(x, 0, 4 * s, 4), slice(y, 0, 4 * s, 4)));
  EXPECT_EQ(a.weights(), b.weights());
  EXPECT_EQ(sb.iterations(), 9);
  EXPECT_LT(losses.back(), losses.front());
}

TEST(TrainStep, ChecksAreTheSameForAUserLoop) {
  auto [x, y] = data(8, 2);
  Linear m(3, 2, 3);
  SGD sgd(m.parameters(), 0.1);
  TrainStep step(m, sgd, {.loss = [](const Tensor& t, const Tensor& p) { return mse(t, p) * std::nan(""); }});
  const auto before = m.weights();
  EXPECT_THAT(error_of<ValueError>([&] { step.run(x, y); }), HasSubstr("train_step: the loss is nan at step 1"));
  EXPECT_EQ(m.weights(), before);
  EXPECT_THAT(error_of<ValueError>([&] { TrainStep(m, sgd, {.clipnorm = 1.0, .clipvalue = 1.0}); }),
              HasSubstr("only one of clipnorm, clipvalue and global_clipnorm"));
  EXPECT_THAT(error_of<ValueError>([&] { TrainStep(m, sgd, {.global_clipnorm = -1.0}); }),
              HasSubstr("global_clipnorm: must be > 0"));
}

TEST(TrainStep, TruncatedBpttStopsAtANonFiniteChunkWithTheWeightsBeforeIt) {
  manual_seed(3);
  Sequential m(Input{None, 1}, SimpleRNN(3, {.return_sequences = true}), TimeDistributed(Dense(1)));
  m.to(DType::f64);
  Generator g(4);
  Tensor x = randn({2, 9, 1}, DType::f64, &g), y = randn({2, 9, 1}, DType::f64, &g);
  SGD sgd(m.parameters(), 0.1);
  int calls = 0;
  std::vector<std::vector<double>> after_chunk;
  LossFn third_is_nan = [&](const Tensor& t, const Tensor& p) {
    after_chunk.push_back(m.parameters()[0].to_vector());  // the weights this chunk starts from
    return ++calls == 3 ? mse(t, p) * std::nan("") : mse(t, p);
  };
  EXPECT_THAT(
      error_of<ValueError>([&] { train_truncated_bptt(m, x, y, {.k = 3, .optimizer = &sgd, .loss = third_is_nan}); }),
      HasSubstr("train_truncated_bptt: the loss is nan at chunk 3/3"));
  EXPECT_EQ(sgd.iterations(), 2);
  EXPECT_EQ(m.parameters()[0].to_vector(), after_chunk[2]);
}

// ---- BatchSource and BatchPlan --------------------------------------------------------------------

// Samples made on demand: row i of x and y, as a dataset of windows would.
struct OnDemand : BatchSource {
  OnDemand(Tensor x, Tensor y) : x(std::move(x)), y(std::move(y)) {}
  std::int64_t size() const override { return x.size(0); }
  Batch load(std::span<const std::int64_t> rows) override {
    std::vector<Tensor> xs, ys;
    for (std::int64_t r : rows) xs.push_back(slice(x, 0, r, 1)), ys.push_back(slice(y, 0, r, 1));
    ++loads;
    return {concat(xs, 0), concat(ys, 0), Tensor()};
  }
  Tensor x, y;
  int loads = 0;
};

TEST(BatchSource, FitOnASourceEqualsFitOnTheTensors) {
  auto [x, y] = data(10, 5);
  Linear a(3, 2, 9), b(3, 2, 9);
  SGD sa(a.parameters(), 0.1), sb(b.parameters(), 0.1);
  Generator ga(11), gb(11);
  History ha = fit(a, x, y, {.epochs = 2, .batch_size = 4, .optimizer = &sa, .verbose = 0, .generator = &ga});
  OnDemand source(x, y);
  History hb = fit(b, source, {.epochs = 2, .batch_size = 4, .optimizer = &sb, .verbose = 0, .generator = &gb});
  EXPECT_EQ(a.weights(), b.weights());
  EXPECT_EQ(ha["loss"], hb["loss"]);
  EXPECT_EQ(source.loads, 6);
}

TEST(BatchPlan, SharesEachBatchBetweenRanksAsDocumented) {
  // 10 samples, batch 2 per rank, 3 ranks: global batches of 6 and 4 rows.
  for (int rank = 0; rank < 3; ++rank) {
    BatchPlan plan(10, 2, rank, 3);
    ASSERT_EQ(plan.steps(), 2);
    EXPECT_EQ(plan.count(1), 4);
    const auto first = plan.rows(0), last = plan.rows(1);
    EXPECT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0], 2 * rank);
    EXPECT_EQ(static_cast<std::int64_t>(last.size()), 4 * (rank + 1) / 3 - 4 * rank / 3);
  }
}

// ---- clipping -------------------------------------------------------------------------------------

History fit_one_step(Linear& m, const Tensor& x, const Tensor& y, FitOptions o) {
  SGD sgd(m.parameters(), 1.0);
  o.optimizer = &sgd;
  o.batch_size = x.size(0);
  o.shuffle = false;
  o.verbose = 0;
  return fit(m, x, y, o);
}

TEST(Clipping, GlobalClipnormScalesAllGradientsTogether) {
  auto [x, y] = data(16, 6);
  Linear m(3, 2, 1);
  fit_one_step(m, x, y, {.global_clipnorm = 0.1});
  expect_near_all(m.weights(),
                  one_sgd_step_by_hand(1, x, y,
                                       [](std::vector<double>& gw, std::vector<double>& gb) {
                                         std::vector<double> all = gw;
                                         all.insert(all.end(), gb.begin(), gb.end());
                                         const double scale = 0.1 / (norm(all) + 1e-6);
                                         ASSERT_LT(scale, 1.0);
                                         for (double& g : gw) g *= scale;
                                         for (double& g : gb) g *= scale;
                                       }),
                  1e-14);
}

TEST(Clipping, ClipnormScalesEachGradientByItsOwnNorm) {
  auto [x, y] = data(16, 6);
  Linear m(3, 2, 1);
  fit_one_step(m, x, y, {.clipnorm = 0.1});
  expect_near_all(m.weights(),
                  one_sgd_step_by_hand(1, x, y,
                                       [](std::vector<double>& gw, std::vector<double>& gb) {
                                         const double sw = 0.1 / (norm(gw) + 1e-6), sb = 0.1 / (norm(gb) + 1e-6);
                                         ASSERT_LT(sw, 1.0);
                                         ASSERT_LT(sb, 1.0);
                                         for (double& g : gw) g *= sw;
                                         for (double& g : gb) g *= sb;
                                       }),
                  1e-14);
}

TEST(Clipping, ClipvalueClampsEachElement) {
  auto [x, y] = data(16, 6);
  Linear m(3, 2, 1);
  fit_one_step(m, x, y, {.clipvalue = 0.05});
  int clamped = 0;
  expect_near_all(m.weights(),
                  one_sgd_step_by_hand(1, x, y,
                                       [&](std::vector<double>& gw, std::vector<double>& gb) {
                                         for (auto* v : {&gw, &gb})
                                           for (double& g : *v) {
                                             clamped += std::abs(g) > 0.05;
                                             g = std::clamp(g, -0.05, 0.05);
                                           }
                                       }),
                  1e-15);
  EXPECT_GT(clamped, 0);
}

// ---- sample and class weights ---------------------------------------------------------------------

TEST(Weights, SampleWeightMakesTheLossKerasWeightedMean) {
  auto [x, y] = data(8, 7);
  Tensor w = tensor({0.0, 1.0, 2.0, 0.5, 1.5, 3.0, 0.25, 1.0}, {8}, DType::f64);
  Linear m(3, 2, 2), hand(3, 2, 2);
  History h = fit_one_step(m, x, y, {.sample_weight = w});
  // By hand: per-row mse, weighted, summed, divided by the rows.
  Tensor per_row = mean(square(hand(x) - y), {1});
  Tensor loss = sum(per_row * w) / 8.0;
  loss.backward();
  EXPECT_NEAR(h["loss"][0], loss.item(), 1e-14);
  std::vector<double> expected = hand.weights(), gw = hand.w.grad().to_vector(), gb = hand.b.grad().to_vector();
  for (std::size_t i = 0; i < gw.size(); ++i) expected[i] -= gw[i];
  for (std::size_t i = 0; i < gb.size(); ++i) expected[gw.size() + i] -= gb[i];
  expect_near_all(m.weights(), expected, 1e-14);
  Linear unweighted(3, 2, 2);
  fit_one_step(unweighted, x, y, {});
  EXPECT_NE(unweighted.weights(), m.weights());
}

TEST(Weights, ClassWeightWeighsEachSampleByItsClass) {
  Generator g(8);
  Tensor x = uniform({12, 3}, -1, 1, DType::f64, &g);
  Tensor y = tensor({0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1}, {12}, DType::f64);
  const auto loss = sparse_categorical_crossentropy_loss(true);
  std::vector<double> sw;
  for (double c : y.to_vector()) sw.push_back(c == 0 ? 3.0 : 1.0);
  Linear a(3, 2, 4), b(3, 2, 4), c(3, 2, 4);
  fit_one_step(a, x, y, {.loss = loss, .class_weight = {{0, 3.0}}});
  fit_one_step(b, x, y, {.loss = loss, .sample_weight = from_vector(sw, {12}, DType::f64)});
  fit_one_step(c, x, y, {.loss = loss});
  EXPECT_EQ(a.weights(), b.weights());
  EXPECT_NE(a.weights(), c.weights());
  // One-hot targets pick the class of the largest value.
  Tensor onehot = zeros({12, 2}, DType::f64);
  const auto ids = y.to_vector();
  for (std::int64_t i = 0; i < 12; ++i)
    onehot.set({i, static_cast<std::int64_t>(ids[static_cast<std::size_t>(i)])}, 1.0);
  Linear d(3, 2, 4), e(3, 2, 4);
  const LossFn bce = binary_crossentropy_loss(true);
  fit_one_step(d, x, onehot, {.loss = bce, .class_weight = {{0, 3.0}}});
  fit_one_step(e, x, onehot, {.loss = bce, .sample_weight = from_vector(sw, {12}, DType::f64)});
  EXPECT_EQ(d.weights(), e.weights());
}

// ---- validation_split and initial_epoch -----------------------------------------------------------

TEST(ValidationSplit, HoldsOutTheLastFractionBeforeShuffling) {
  auto [x, y] = data(10, 9);
  Linear m(3, 2, 5);
  m.record = true;
  SGD sgd(m.parameters(), 0.05);
  History h = fit(m, x, y, {.epochs = 1, .batch_size = 3, .optimizer = &sgd, .verbose = 0, .validation_split = 0.3});
  // Trained on rows 0..6 only (7 = floor(10 * 0.7)), in some order.
  std::vector<double> trained;
  for (std::size_t i = 0; i < 3; ++i) trained.insert(trained.end(), m.seen[i].begin(), m.seen[i].end());
  std::vector<double> first7 = slice(x, 0, 0, 7).to_vector();
  std::sort(trained.begin(), trained.end());
  std::sort(first7.begin(), first7.end());
  EXPECT_EQ(trained, first7);
  EXPECT_NEAR(h["val_loss"][0], evaluate(m, slice(x, 0, 7, 3), slice(y, 0, 7, 3))["loss"], 1e-15);
  EXPECT_THAT(
      error_of<ValueError>([&] {
        fit(m, x, y, {.optimizer = &sgd, .validation_data = std::pair{x, y}, .verbose = 0, .validation_split = 0.2});
      }),
      HasSubstr("not both"));
  EXPECT_THAT(error_of<ValueError>([&] { fit(m, x, y, {.optimizer = &sgd, .verbose = 0, .validation_split = 0.95}); }),
              HasSubstr("both need at least one"));
}

TEST(InitialEpoch, EpochsAreCountedFromIt) {
  auto [x, y] = data(8, 10);
  Linear m(3, 2, 6);
  SGD sgd(m.parameters(), 0.05);
  std::vector<int> epochs;
  LambdaCallback record({.on_epoch_begin = [&](int e) { epochs.push_back(e); }});
  std::ostringstream out;
  History h = fit(
      m, x, y, {.epochs = 5, .optimizer = &sgd, .callbacks = {&record}, .verbose = 2, .out = &out, .initial_epoch = 3});
  EXPECT_EQ(h.epochs(), 2);
  EXPECT_EQ(epochs, (std::vector<int>{3, 4}));
  EXPECT_THAT(out.str(), HasSubstr("Epoch 4/5"));
  EXPECT_THAT(out.str(), ::testing::Not(HasSubstr("Epoch 1/5")));
  EXPECT_EQ(fit(m, x, y, {.epochs = 2, .optimizer = &sgd, .verbose = 0, .initial_epoch = 2}).epochs(), 0);
}

// ---- callbacks ------------------------------------------------------------------------------------

struct Recorder : Callback {
  void on_train_begin() override { events.push_back("train_begin"); }
  void on_train_end() override { events.push_back("train_end"); }
  void on_epoch_begin(int e) override { events.push_back(fmt::format("epoch_begin {}", e)); }
  void on_epoch_end(int e, const Logs& logs) override {
    events.push_back(fmt::format("epoch_end {} {}", e, logs.count("val_loss")));
  }
  void on_train_batch_begin(std::int64_t b) override {
    events.push_back(fmt::format("batch_begin {}", b));
    optimizers.push_back(&optimizer());
  }
  void on_train_batch_end(std::int64_t b, const Logs& logs) override {
    events.push_back(fmt::format("batch_end {}", b));
    batch_losses.push_back(logs.at("loss"));
    if (stop_at == static_cast<int>(events.size())) stop_training();
  }
  std::vector<std::string> events;
  std::vector<const Optimizer*> optimizers;
  std::vector<double> batch_losses;
  int stop_at = -1;
};

TEST(Callbacks, SeeEveryBeginAndEndWithTheOptimizerAndTheLogs) {
  auto [x, y] = data(8, 11);
  Linear m(3, 2, 7);
  SGD sgd(m.parameters(), 0.05);
  Recorder r;
  History h = fit(m, x, y,
                  {.epochs = 2,
                   .batch_size = 4,
                   .optimizer = &sgd,
                   .validation_data = std::pair{x, y},
                   .callbacks = {&r},
                   .verbose = 0});
  EXPECT_EQ(r.events,
            (std::vector<std::string>{"train_begin", "epoch_begin 0", "batch_begin 0", "batch_end 0", "batch_begin 1",
                                      "batch_end 1", "epoch_end 0 1", "epoch_begin 1", "batch_begin 0", "batch_end 0",
                                      "batch_begin 1", "batch_end 1", "epoch_end 1 1", "train_end"}));
  for (const Optimizer* o : r.optimizers) EXPECT_EQ(o, &sgd);
  EXPECT_EQ(r.batch_losses[1], h["loss"][0]);  // the running mean at the epoch's last batch
}

TEST(Callbacks, StopTrainingAtABatchEndsTheEpochThere) {
  auto [x, y] = data(16, 12);
  Linear m(3, 2, 7);
  SGD sgd(m.parameters(), 0.05);
  Recorder r;
  r.stop_at = 6;  // train_begin, epoch_begin, batch 0 begin/end, batch 1 begin/end: stop there
  History h = fit(m, x, y, {.epochs = 3, .batch_size = 4, .optimizer = &sgd, .callbacks = {&r}, .verbose = 0});
  EXPECT_EQ(h.epochs(), 1);
  EXPECT_EQ(sgd.iterations(), 2);
  EXPECT_EQ(r.events.back(), "train_end");
}

// ---- learning rates -------------------------------------------------------------------------------

TEST(LearningRateScheduler, SetsTheRateAtEachEpochFromEpochAndRate) {
  auto [x, y] = data(8, 13);
  Linear m(3, 2, 7);
  SGD sgd(m.parameters(), 0.1);
  LearningRateScheduler schedule([](int epoch, double lr) { return epoch == 0 ? lr : lr * 0.5; });
  std::vector<double> rates;
  LambdaCallback record({.on_train_batch_begin = [&](std::int64_t) { rates.push_back(sgd.learning_rate()); }});
  fit(m, x, y, {.epochs = 3, .batch_size = 8, .optimizer = &sgd, .callbacks = {&schedule, &record}, .verbose = 0});
  EXPECT_EQ(rates, (std::vector<double>{0.1, 0.05, 0.025}));
}

TEST(Schedules, FollowKerasFormulas) {
  ExponentialDecay smooth(0.1, 10, 0.5), stairs(0.1, 10, 0.5, true);
  EXPECT_DOUBLE_EQ(smooth(0), 0.1);
  EXPECT_DOUBLE_EQ(smooth(5), 0.1 * std::pow(0.5, 0.5));
  EXPECT_DOUBLE_EQ(smooth(25), 0.1 * std::pow(0.5, 2.5));
  EXPECT_DOUBLE_EQ(stairs(25), 0.1 * 0.25);
  EXPECT_DOUBLE_EQ(stairs(9), 0.1);

  PiecewiseConstantDecay piecewise({10, 20}, {1.0, 0.5, 0.1});
  EXPECT_EQ(piecewise(0), 1.0);
  EXPECT_EQ(piecewise(10), 1.0);  // up to and including the boundary
  EXPECT_EQ(piecewise(11), 0.5);
  EXPECT_EQ(piecewise(20), 0.5);
  EXPECT_EQ(piecewise(21), 0.1);
  EXPECT_THROW(PiecewiseConstantDecay({10, 5}, {1, 2, 3}), ValueError);
  EXPECT_THROW(PiecewiseConstantDecay({10}, {1}), ValueError);

  auto cosine = [](double s, double d, double alpha) {
    return (1 - alpha) * 0.5 * (1 + std::cos(std::numbers::pi * s / d)) + alpha;
  };
  CosineDecay plain(0.1, 100), floored(0.1, 100, 0.2);
  EXPECT_DOUBLE_EQ(plain(0), 0.1);
  EXPECT_DOUBLE_EQ(plain(30), 0.1 * cosine(30, 100, 0));
  EXPECT_DOUBLE_EQ(floored(70), 0.1 * cosine(70, 100, 0.2));
  EXPECT_DOUBLE_EQ(floored(500), 0.1 * 0.2);  // held after decay_steps
  // Warm-up from 0.01 to 0.1 over 10 steps, then decay from 0.1 over 100.
  CosineDecay warm(0.01, 100, 0.0, 0.1, 10);
  EXPECT_DOUBLE_EQ(warm(0), 0.01);
  EXPECT_DOUBLE_EQ(warm(5), 0.01 + 0.09 * 0.5);
  EXPECT_DOUBLE_EQ(warm(10), 0.1);
  EXPECT_DOUBLE_EQ(warm(60), 0.1 * cosine(50, 100, 0));
}

TEST(ApplySchedule, SetsTheRateBeforeEachBatchFromTheOptimizersStep) {
  auto [x, y] = data(12, 14);
  Linear m(3, 2, 7);
  SGD sgd(m.parameters(), 1.0);
  ExponentialDecay decay(0.1, 2, 0.5);
  ApplySchedule schedule(decay);
  std::vector<double> rates;
  LambdaCallback record({.on_train_batch_begin = [&](std::int64_t) { rates.push_back(sgd.learning_rate()); }});
  fit(m, x, y, {.epochs = 2, .batch_size = 4, .optimizer = &sgd, .callbacks = {&schedule, &record}, .verbose = 0});
  ASSERT_EQ(rates.size(), 6u);
  for (std::size_t i = 0; i < rates.size(); ++i) EXPECT_EQ(rates[i], decay(static_cast<std::int64_t>(i))) << i;
}

TEST(ReduceLROnPlateau, CutsTheRateAfterPatienceThenCoolsDown) {
  Linear m(3, 2, 7);
  SGD sgd(m.parameters(), 1.0);
  ReduceLROnPlateau plateau("val_loss", 0.5, /*patience=*/2, MonitorMode::min, /*min_delta=*/0.0, /*cooldown=*/1,
                            /*min_lr=*/0.2);
  TrainingContext context{.model = &m, .optimizer = &sgd};
  plateau.attach(&context);
  plateau.on_train_begin();
  std::vector<double> rates;
  for (double v : {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6}) {
    plateau.on_epoch_end(0, {{"val_loss", v}});
    rates.push_back(sgd.learning_rate());
  }
  // Keras: waits 1, 2 -> cut at epoch 2; the cooldown counts down to 0 at epoch 3, which then
  // counts as a wait of 1 (Keras tests the cooldown after the countdown), 2 -> cut at epoch 4;
  // the same at 5; an improvement at 6; waits 1, 2 -> cut to the floor 0.2 at epoch 8; at the
  // floor nothing more happens.
  EXPECT_EQ(rates, (std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2}));
  EXPECT_THROW(ReduceLROnPlateau("val_loss", 1.5), ValueError);
  EXPECT_THAT(error_of<ValueError>([&] { plateau.on_epoch_end(0, {{"loss", 1.0}}); }), HasSubstr("'val_loss'"));
}

// ---- CSVLogger and TerminateOnNaN -----------------------------------------------------------------

std::vector<std::string> lines_of(const std::string& path) {
  const auto bytes = read_file(path, "test");
  std::vector<std::string> lines;
  std::string line;
  for (unsigned char c : bytes) {
    if (c == '\n') {
      lines.push_back(line);
      line.clear();
    } else {
      line.push_back(static_cast<char>(c));
    }
  }
  EXPECT_TRUE(line.empty()) << "the file ends in the middle of a line";
  return lines;
}

TEST(CSVLogger, WritesAHeaderAndARowPerEpochAndAppendsWhenAsked) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(::testing::TempDir()) / fmt::format("tg_csv_{}.csv", ::getpid())).string();
  auto [x, y] = data(8, 15);
  Linear m(3, 2, 7);
  SGD sgd(m.parameters(), 0.05);
  CSVLogger csv(path);
  History h = fit(m, x, y,
                  {.epochs = 2,
                   .optimizer = &sgd,
                   .metrics = {{"mae", mae}},
                   .validation_data = std::pair{x, y},
                   .callbacks = {&csv},
                   .verbose = 0});
  auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "epoch,loss,mae,val_loss,val_mae");
  EXPECT_EQ(lines[2], fmt::format("1,{},{},{},{}", h["loss"][1], h["mae"][1], h["val_loss"][1], h["val_mae"][1]));
  CSVLogger more(path, ',', /*append=*/true);
  fit(m, x, y,
      {.epochs = 3,
       .optimizer = &sgd,
       .metrics = {{"mae", mae}},
       .validation_data = std::pair{x, y},
       .callbacks = {&more},
       .verbose = 0,
       .initial_epoch = 2});
  lines = lines_of(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "epoch,loss,mae,val_loss,val_mae");
  EXPECT_EQ(lines[3].substr(0, 2), "2,");
  CSVLogger other(path, ',', true);  // another set of columns cannot be appended
  EXPECT_THAT(error_of<ValueError>([&] { fit(m, x, y, {.optimizer = &sgd, .callbacks = {&other}, .verbose = 0}); }),
              HasSubstr("has the columns epoch,loss,mae,val_loss,val_mae, but this training logs epoch,loss"));
  fs::remove(path);
}

TEST(TerminateOnNaN, StopsWhenAValidationValueOverflows) {
  auto [x, y] = data(8, 16, DType::f32);
  Tensor huge = full({4, 3}, 1e30, DType::f32);  // finite inputs whose squared error overflows float32
  Tensor yv = zeros({4, 2}, DType::f32);
  auto run = [&](std::vector<Callback*> callbacks) {
    Linear m(3, 2, 7, DType::f32);
    SGD sgd(m.parameters(), 0.01);
    return fit(
        m, x, y,
        {.epochs = 4, .optimizer = &sgd, .validation_data = std::pair{huge, yv}, .callbacks = callbacks, .verbose = 0});
  };
  EXPECT_EQ(run({}).epochs(), 4);
  TerminateOnNaN terminate;
  History h = run({&terminate});
  EXPECT_EQ(h.epochs(), 1);
  EXPECT_TRUE(terminate.terminated());
  EXPECT_TRUE(std::isinf(h["val_loss"][0]));
}

TEST(LambdaCallback, CallsTheFunctionsItWasGiven) {
  auto [x, y] = data(8, 17);
  Linear m(3, 2, 7);
  SGD sgd(m.parameters(), 0.05);
  int begins = 0, ends = 0, batches = 0;
  std::vector<double> losses;
  LambdaCallback cb({.on_train_begin = [&] { ++begins; },
                     .on_train_end = [&] { ++ends; },
                     .on_epoch_end = [&](int, const Logs& logs) { losses.push_back(logs.at("loss")); },
                     .on_train_batch_end = [&](std::int64_t, const Logs&) { ++batches; }});
  History h = fit(m, x, y, {.epochs = 2, .batch_size = 4, .optimizer = &sgd, .callbacks = {&cb}, .verbose = 0});
  EXPECT_EQ(begins, 1);
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(batches, 4);
  EXPECT_EQ(losses, h["loss"]);
}

}  // namespace
}  // namespace tg

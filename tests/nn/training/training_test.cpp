#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <tapegrad/tapegrad.h>

#include <tapegrad/data/series.h>
#include <tapegrad/nn/training/losses.h>
#include <tapegrad/nn/training/serialize.h>
#include <tapegrad/nn/training/fit.h>
#include "support/error_of.h"
#include <tapegrad/optim/adam.h>
#include "support/alloc_counter.h"
#include <tapegrad/optim/sgd.h>

namespace tg {
namespace {

using ::testing::HasSubstr;

// y = x w + b on the last axis, with a record of the batches it saw.
struct Affine : Module {
  Affine(std::int64_t in, std::int64_t out, std::uint32_t seed, DType dtype = DType::f32) : Module("Affine") {
    Generator g(seed);
    w = register_parameter("w", uniform({in, out}, -0.5, 0.5, dtype, &g));
    b = register_parameter("b", zeros({out}, dtype));
  }
  Tensor forward(const Tensor& x) override {
    if (record) {
      batch_sizes.push_back(x.size(0));
      first_values.push_back(x.to_vector());
      weights_seen.push_back(w.to_vector());
    }
    if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    return linear(x, w, b);
  }
  std::vector<double> weights() const { return w.to_vector(); }
  Tensor w, b;
  bool record = false;
  int delay_ms = 0;
  std::vector<std::int64_t> batch_sizes;
  std::vector<std::vector<double>> first_values, weights_seen;
};

// x [n, 3] uniform, y = x A + c: a linear map the Affine model can learn exactly.
std::pair<Tensor, Tensor> linear_data(std::int64_t n, std::uint32_t seed, DType dtype = DType::f32) {
  Generator g(seed);
  Tensor x = uniform({n, 3}, -1, 1, dtype, &g);
  Tensor a = tensor({1.5, -2.0, 0.5, 0.25, -1.0, 3.0}, {3, 2}, dtype);
  Tensor c = tensor({0.3, -0.7}, dtype);
  NoGradGuard no_grad;
  return {linear(x, a, c), x};
}

using testing::error_of;

// Progress text with every number that has a decimal point replaced by '#' and the padding
// before line ends removed; the numbers go to `numbers`. (std::regex trips GCC 12's
// maybe-uninitialized warning under the sanitizers.)
std::string mask_numbers(const std::string& s, std::vector<std::string>& numbers) {
  auto in_number = [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '-';
  };
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j < s.size() && in_number(s[j])) ++j;
    const std::string run = s.substr(i, j - i);
    const bool number = j > i && std::isdigit(static_cast<unsigned char>(run[0])) && run.find('.') != std::string::npos;
    if (number) {
      numbers.push_back(run);
      out += '#';
    } else if (j > i) {
      out += run;
    } else {
      if (s[i] == '\n')
        while (!out.empty() && out.back() == ' ') out.pop_back();
      out += s[i];
      ++j;
    }
    i = j;
  }
  return out;
}

// Keras' formats: 4 decimals ("0.0123") or, below 1e-3, "1.2345e-04"; times "0.4".
bool well_formatted(const std::string& v) {
  auto digits = [&](std::size_t from, std::size_t n) {
    if (from + n > v.size()) return false;
    for (std::size_t k = from; k < from + n; ++k)
      if (!std::isdigit(static_cast<unsigned char>(v[k]))) return false;
    return true;
  };
  const std::size_t dot = v.find('.');
  if (dot == std::string::npos || dot == 0 || !digits(0, dot)) return false;
  const std::size_t decimals = v.size() - dot - 1;
  if (decimals == 1 || decimals == 4) return digits(dot + 1, decimals);
  return dot == 1 && v.size() == 10 && digits(2, 4) && v.substr(6, 2) == "e-" && digits(8, 2);
}

// ---- losses and metrics ---------------------------------------------------------------------------

TEST(Losses, MseAndMaeAreMeansOverAllElements) {
  Tensor t = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3}, DType::f64);
  Tensor p = tensor({1.5, 2.0, 1.0, 4.0, 9.0, 6.0}, {2, 3}, DType::f64);
  EXPECT_DOUBLE_EQ(mse(t, p).item(), (0.25 + 4.0 + 16.0) / 6.0);
  EXPECT_DOUBLE_EQ(mae(t, p).item(), (0.5 + 2.0 + 4.0) / 6.0);
  EXPECT_EQ(mse(t, p).rank(), 0);
  EXPECT_THAT(error_of<ShapeError>([&] {
                mae(t, tensor({1.0, 2.0}, DType::f64));
              }),
              HasSubstr("mae: y_true [2,3] and y_pred [2]"));
  EXPECT_THROW(mse(t, tensor({1.0}, DType::f64)), ShapeError);
  // Gradient of mae reaches y_pred.
  Tensor q = p.clone().requires_grad_();
  mae(t, q).backward();
  EXPECT_NEAR(q.grad().at({1, 1}), 1.0 / 6.0, 1e-15);
  EXPECT_NEAR(q.grad().at({0, 2}), -1.0 / 6.0, 1e-15);
}

TEST(Losses, LastTimeStepMseIsThreeLinesOfUserCode) {
  Metric last_time_step_mse{"last_time_step_mse", [](const Tensor& y_true, const Tensor& y_pred) {
                              return mse(select(y_true, 1, -1), select(y_pred, 1, -1));
                            }};
  Generator g(3);
  Tensor yt = uniform({4, 5, 2}, -1, 1, DType::f64, &g), yp = uniform({4, 5, 2}, -1, 1, DType::f64, &g);
  double want = 0;
  for (std::int64_t b = 0; b < 4; ++b)
    for (std::int64_t f = 0; f < 2; ++f) want += std::pow(yt.at({b, 4, f}) - yp.at({b, 4, f}), 2) / 8.0;
  EXPECT_NEAR(last_time_step_mse.fn(yt, yp).item(), want, 1e-15);

  // As a metric of evaluate on a sequence model ([B, T, 3] -> [B, T, 2]).
  Affine model(3, 2, 1, DType::f64);
  Tensor x = uniform({10, 5, 3}, -1, 1, DType::f64, &g), y = uniform({10, 5, 2}, -1, 1, DType::f64, &g);
  Logs logs = evaluate(model, x, y, mse, {last_time_step_mse}, 4);
  Tensor pred = model(x);
  EXPECT_NEAR(logs.at("last_time_step_mse"), last_time_step_mse.fn(y, pred).item(), 1e-12);
  EXPECT_NEAR(logs.at("loss"), mse(y, pred).item(), 1e-12);
}

// ---- fit ------------------------------------------------------------------------------------------

TEST(Fit, LearnsALinearMapDeterministically) {
  auto run = [] {
    auto [y, x] = linear_data(512, 1);
    auto [yv, xv] = linear_data(128, 2);
    Affine model(3, 2, 7);
    Adam adam(model.parameters(), 0.05);
    Generator shuffle(11);
    History h = fit(model, x, y,
                    {.epochs = 30,
                     .optimizer = &adam,
                     .metrics = {{"mae", mae}},
                     .validation_data = std::pair{xv, yv},
                     .verbose = 0,
                     .generator = &shuffle});
    return std::pair{h, model.weights()};
  };
  auto [h, weights] = run();
  ASSERT_EQ(h.epochs(), 30);
  for (const char* key : {"loss", "mae", "val_loss", "val_mae"}) EXPECT_EQ(h[key].size(), 30u) << key;
  EXPECT_EQ(h.values.size(), 4u);
  EXPECT_EQ(h.epoch_seconds.size(), 30u);
  for (double s : h.epoch_seconds) EXPECT_GE(s, 0.0);
  EXPECT_FALSE(h.contains("accuracy"));
  EXPECT_THAT(error_of<ValueError>([&] { (void)h["accuracy"]; }),
              HasSubstr("no values named 'accuracy' (available: loss, mae, val_loss, val_mae)"));

  const auto& loss = h["loss"];
  EXPECT_GT(loss.front(), 0.5);
  EXPECT_LT(loss.back(), loss.front() * 1e-4);
  EXPECT_LT(h["val_loss"].back(), h["val_loss"].front() * 1e-4);
  EXPECT_LT(h["val_mae"].back(), 0.01);
  // The learnt map is the true one.
  const std::vector<double> a{1.5, -2.0, 0.5, 0.25, -1.0, 3.0};
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(weights[i], a[i], 0.02) << i;

  // Same seeds, same run.
  auto [h2, weights2] = run();
  EXPECT_EQ(h2["loss"], h["loss"]);
  EXPECT_EQ(weights2, weights);
}

TEST(Fit, ReportsSampleWeightedMeansOverTheEpoch) {
  // With a learning rate far below float64's resolution the weights do not move, so the
  // epoch's loss must be the mean over all samples even though the last batch is short
  // (100 = 3 x 32 + 4): an unweighted mean of the four batch losses would differ.
  auto [y, x] = linear_data(100, 3, DType::f64);
  auto [yv, xv] = linear_data(37, 4, DType::f64);
  Affine model(3, 2, 5, DType::f64);
  SGD sgd(model.parameters(), 1e-300);
  model.record = true;
  History h = fit(
      model, x, y,
      {.epochs = 2, .optimizer = &sgd, .metrics = {{"mae", mae}}, .validation_data = std::pair{xv, yv}, .verbose = 0});
  model.record = false;
  Tensor pred = model(x), pred_v = model(xv);
  for (int e = 0; e < 2; ++e) {
    EXPECT_NEAR(h["loss"][static_cast<std::size_t>(e)], mse(y, pred).item(), 1e-14);
    EXPECT_NEAR(h["mae"][static_cast<std::size_t>(e)], mae(y, pred).item(), 1e-14);
    EXPECT_NEAR(h["val_loss"][static_cast<std::size_t>(e)], mse(yv, pred_v).item(), 1e-14);
    EXPECT_NEAR(h["val_mae"][static_cast<std::size_t>(e)], mae(yv, pred_v).item(), 1e-14);
  }
  // And it is not the unweighted mean of the batch losses.
  double unweighted = 0;
  for (std::int64_t s = 0; s < 4; ++s) {
    const std::int64_t start = s * 32, count = std::min<std::int64_t>(32, 100 - start);
    unweighted += mse(slice(y, 0, start, count), slice(pred, 0, start, count)).item() / 4;
  }
  EXPECT_GT(std::abs(unweighted - h["loss"][0]), 1e-6);
  // Training batches 32, 32, 32, 4 per epoch; validation 32, 5 (after each epoch).
  EXPECT_EQ(model.batch_sizes, (std::vector<std::int64_t>{32, 32, 32, 4, 32, 5, 32, 32, 32, 4, 32, 5}));
}

TEST(Fit, BatchesCoverEverySampleOnceInAShuffledOrder) {
  const std::int64_t n = 7000;
  Tensor x = arange(0, static_cast<double>(n), 1, DType::f64).view({n, 1});
  Tensor y = zeros({n, 1}, DType::f64);
  Affine model(1, 1, 1, DType::f64);
  SGD sgd(model.parameters(), 1e-300);
  model.record = true;
  std::ostringstream out;
  fit(model, x, y, {.epochs = 2, .optimizer = &sgd, .verbose = 2, .out = &out});
  ASSERT_EQ(model.batch_sizes.size(), 2u * 219u);  // 7000 samples in batches of 32: 219 steps
  EXPECT_EQ(model.batch_sizes[218], 24);
  EXPECT_THAT(out.str(), HasSubstr("219/219 - "));
  std::vector<std::vector<double>> epochs(2);
  for (std::size_t s = 0; s < model.first_values.size(); ++s)
    for (double v : model.first_values[s]) epochs[s / 219].push_back(v);
  for (auto& seen : epochs) {
    ASSERT_EQ(seen.size(), 7000u);
    std::vector<double> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[static_cast<std::size_t>(i)], static_cast<double>(i));
  }
  EXPECT_NE(epochs[0], epochs[1]);  // reshuffled every epoch
  std::vector<double> identity(7000);
  std::iota(identity.begin(), identity.end(), 0.0);
  EXPECT_NE(epochs[0], identity);

  // shuffle = false keeps the order.
  model.first_values.clear();
  fit(model, x, y, {.epochs = 1, .optimizer = &sgd, .shuffle = false, .verbose = 0});
  std::vector<double> seen;
  for (const auto& batch : model.first_values)
    for (double v : batch) seen.push_back(v);
  EXPECT_EQ(seen, identity);
}

TEST(Fit, BatchLargerThanTheDataIsOneBatch) {
  auto [y, x] = linear_data(10, 1);
  Affine model(3, 2, 1);
  SGD sgd(model.parameters(), 0.1);
  model.record = true;
  std::ostringstream out;
  History h = fit(model, x, y, {.epochs = 2, .batch_size = 1000, .optimizer = &sgd, .verbose = 2, .out = &out});
  EXPECT_EQ(model.batch_sizes, (std::vector<std::int64_t>{10, 10}));
  EXPECT_THAT(out.str(), HasSubstr("1/1 - "));
  EXPECT_LT(h["loss"][1], h["loss"][0]);
}

// ---- progress -------------------------------------------------------------------------------------

TEST(Progress, Verbose1WritesABarPerEpochWhenNotATerminal) {
  auto [y, x] = linear_data(100, 1);
  auto [yv, xv] = linear_data(20, 2);
  Affine model(3, 2, 1);
  Adam adam(model.parameters(), 0.01);
  std::ostringstream out;
  fit(model, x, y,
      {.epochs = 2,
       .optimizer = &adam,
       .metrics = {{"mae", mae}},
       .validation_data = std::pair{xv, yv},
       .verbose = 1,
       .out = &out,
       .in_place_progress = false});
  std::vector<std::string> numbers;
  const std::string line = "4/4 [==============================] - #s - loss: # - mae: # - val_loss: # - val_mae: #\n";
  EXPECT_EQ(mask_numbers(out.str(), numbers), "Epoch 1/2\n" + line + "Epoch 2/2\n" + line);
  EXPECT_EQ(numbers.size(), 10u);
  for (const std::string& n : numbers) EXPECT_TRUE(well_formatted(n)) << n;
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(Progress, Verbose2WritesOneLinePerEpochWithoutABar) {
  auto [y, x] = linear_data(64, 1);
  Affine model(3, 2, 1);
  Adam adam(model.parameters(), 0.01);
  std::ostringstream out;
  fit(model, x, y, {.epochs = 3, .optimizer = &adam, .verbose = 2, .out = &out, .in_place_progress = true});
  std::vector<std::string> numbers;
  EXPECT_EQ(mask_numbers(out.str(), numbers),
            "Epoch 1/3\n2/2 - #s - loss: #\nEpoch 2/3\n2/2 - #s - loss: #\nEpoch 3/3\n2/2 - #s - loss: #\n");
  for (const std::string& n : numbers) EXPECT_TRUE(well_formatted(n)) << n;
}

TEST(Progress, Verbose0IsSilent) {
  auto [y, x] = linear_data(64, 1);
  Affine model(3, 2, 1);
  Adam adam(model.parameters());
  std::ostringstream out;
  fit(model, x, y, {.epochs = 2, .optimizer = &adam, .verbose = 0, .out = &out});
  EXPECT_EQ(out.str(), "");
}

TEST(Progress, InPlaceBarIsRedrawnWithCarriageReturns) {
  auto [y, x] = linear_data(4 * 8, 1);
  auto [yv, xv] = linear_data(8, 2);
  Affine model(3, 2, 1);
  model.delay_ms = 110;  // slower than the redraw interval (0.1 s), so every step redraws
  Adam adam(model.parameters());
  std::ostringstream out;
  fit(model, x, y,
      {.epochs = 2,
       .batch_size = 8,
       .optimizer = &adam,
       .validation_data = std::pair{xv, yv},
       .verbose = 1,
       .out = &out,
       .in_place_progress = true});
  const std::string s = out.str();
  EXPECT_EQ(s.rfind("Epoch 1/2\n", 0), 0u) << s;
  EXPECT_THAT(s, HasSubstr("\r2/4 [==============>...............] - ETA: "));
  EXPECT_THAT(s, HasSubstr("\r3/4 [=====================>........] - ETA: "));
  std::vector<std::string> numbers;
  EXPECT_THAT(mask_numbers(s, numbers),
              HasSubstr("\r4/4 [==============================] - #s - loss: # - val_loss: #\nEpoch 2/2\n"));
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 4);
  // During the epoch only the running training values are shown.
  std::size_t at = 0;
  int redraws = 0;
  while ((at = s.find(" - ETA: ", at)) != std::string::npos) {
    const std::size_t end = s.find('\r', at);
    EXPECT_EQ(s.substr(at, end - at).find("val_loss"), std::string::npos) << s.substr(at, end - at);
    ++at;
    ++redraws;
  }
  EXPECT_GE(redraws, 4);
}

// ---- callbacks ------------------------------------------------------------------------------------

// A metric that reports a fixed value per epoch (one batch per epoch), to drive the callbacks.
Metric scripted(std::vector<double> values, int& calls) {
  return {"score", [values, &calls](const Tensor&, const Tensor& p) {
            return scalar(values[static_cast<std::size_t>(calls++)], p.dtype());
          }};
}

struct RecordWeights : Callback {
  void on_epoch_end(int, const Logs&) override { weights.push_back(model().parameters()[0].to_vector()); }
  std::vector<std::vector<double>> weights;
};

TEST(Callbacks, EarlyStoppingStopsAndRestoresTheBestWeights) {
  auto [y, x] = linear_data(16, 1);
  Affine model(3, 2, 1);
  SGD sgd(model.parameters(), 0.05);
  int calls = 0;
  RecordWeights record;
  EarlyStopping stop("score", /*patience=*/3, /*restore_best_weights=*/true);
  History h = fit(model, x, y,
                  {.epochs = 20,
                   .batch_size = 16,
                   .optimizer = &sgd,
                   .metrics = {scripted({5, 4, 3, 3.5, 3.2, 3.1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, calls)},
                   .callbacks = {&record, &stop},
                   .verbose = 0});
  EXPECT_EQ(h.epochs(), 6);
  EXPECT_EQ(stop.stopped_epoch(), 5);
  EXPECT_EQ(stop.best_epoch(), 2);
  EXPECT_EQ(stop.best(), 3.0);
  ASSERT_EQ(record.weights.size(), 6u);
  EXPECT_NE(record.weights[5], record.weights[2]);  // training moved on after the best epoch
  EXPECT_EQ(model.parameters()[0].to_vector(), record.weights[2]);
}

TEST(Callbacks, EarlyStoppingWithoutRestoreKeepsTheLastWeightsAndHonoursMinDelta) {
  auto [y, x] = linear_data(16, 1);
  Affine model(3, 2, 1);
  SGD sgd(model.parameters(), 0.05);
  int calls = 0;
  RecordWeights record;
  // 4.9 is not better than 5 by more than 0.15: stop after epoch 1 with patience 1.
  EarlyStopping stop("score", 1, false, 0.15);
  History h = fit(model, x, y,
                  {.epochs = 5,
                   .batch_size = 16,
                   .optimizer = &sgd,
                   .metrics = {scripted({5, 4.9, 4.8, 4.7, 1}, calls)},
                   .callbacks = {&record, &stop},
                   .verbose = 0});
  EXPECT_EQ(h.epochs(), 2);
  EXPECT_EQ(model.parameters()[0].to_vector(), record.weights[1]);

  calls = 0;
  EarlyStopping patient("score", 1, false, 0.0);
  h = fit(model, x, y,
          {.epochs = 5,
           .batch_size = 16,
           .optimizer = &sgd,
           .metrics = {scripted({5, 4.9, 4.8, 4.7, 1}, calls)},
           .callbacks = {&patient},
           .verbose = 0});
  EXPECT_EQ(h.epochs(), 5);
  EXPECT_EQ(patient.stopped_epoch(), -1);

  calls = 0;
  EarlyStopping up("score", 0, false, 0.0, MonitorMode::max);
  h = fit(model, x, y,
          {.epochs = 5,
           .batch_size = 16,
           .optimizer = &sgd,
           .metrics = {scripted({1, 2, 3, 2.5, 4}, calls)},
           .callbacks = {&up},
           .verbose = 0});
  EXPECT_EQ(h.epochs(), 4);
}

TEST(Callbacks, MissingMonitorIsAClearError) {
  auto [y, x] = linear_data(16, 1);
  Affine model(3, 2, 1);
  SGD sgd(model.parameters(), 0.05);
  EarlyStopping stop;  // val_loss, but no validation data
  EXPECT_THAT(error_of<ValueError>([&] { fit(model, x, y, {.optimizer = &sgd, .callbacks = {&stop}, .verbose = 0}); }),
              HasSubstr("EarlyStopping: monitored value 'val_loss' is not in the logs (available: loss); pass "
                        "validation_data to fit"));
}

TEST(Callbacks, ModelCheckpointSavesTheBestWeights) {
  namespace fs = std::filesystem;
  const std::string dir = (fs::path(::testing::TempDir()) / fmt::format("tg_checkpoint_{}", ::getpid())).string();
  fs::create_directories(dir);
  auto [y, x] = linear_data(16, 1);
  Affine model(3, 2, 1);
  SGD sgd(model.parameters(), 0.05);
  int calls = 0;
  RecordWeights record;
  ModelCheckpoint best(dir + "/best.tgw", "score", true);
  ModelCheckpoint every(dir + "/epoch_{epoch}.tgw", "score");
  fit(model, x, y,
      {.epochs = 5,
       .batch_size = 16,
       .optimizer = &sgd,
       .metrics = {scripted({5, 4, 3, 3.5, 3.2}, calls)},
       .callbacks = {&record, &best, &every},
       .verbose = 0});
  EXPECT_EQ(best.saved_epochs(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(every.saved_epochs(), (std::vector<int>{0, 1, 2, 3, 4}));
  for (int e = 1; e <= 5; ++e) EXPECT_TRUE(fs::exists(fmt::format("{}/epoch_{}.tgw", dir, e))) << e;
  Affine restored(3, 2, 99);
  load_weights(restored, dir + "/best.tgw");
  EXPECT_EQ(restored.weights(), record.weights[2]);
  load_weights(restored, dir + "/epoch_4.tgw");
  EXPECT_EQ(restored.weights(), record.weights[3]);
  fs::remove_all(dir);
}

// ---- bad input ------------------------------------------------------------------------------------

TEST(Fit, RejectsBadInputWithClearErrors) {
  auto [y, x] = linear_data(20, 1);
  Affine model(3, 2, 1);
  SGD sgd(model.parameters(), 0.1);
  EXPECT_EQ(error_of<ShapeError>([&] { fit(model, x, slice(y, 0, 0, 19), {.optimizer = &sgd, .verbose = 0}); }),
            "fit: x [20,3] and y [19,2] have different numbers of samples (20 vs 19)");
  EXPECT_THAT(error_of<ShapeError>([&] {
                fit(model, x, y, {.optimizer = &sgd, .validation_data = std::pair{x, slice(y, 0, 0, 5)}, .verbose = 0});
              }),
              HasSubstr("validation x [20,3] and validation y [5,2]"));
  EXPECT_EQ(error_of<ValueError>([&] { fit(model, x, y, {.verbose = 0}); }), "fit: FitOptions::optimizer is not set");
  EXPECT_EQ(error_of<ValueError>([&] { fit(model, x, y, {.batch_size = 0, .optimizer = &sgd}); }),
            "fit: batch_size must be >= 1, got 0");
  EXPECT_THAT(error_of<ValueError>([&] {
                fit(model, zeros({0, 3}), zeros({0, 2}), {.optimizer = &sgd});
              }),
              HasSubstr("holds no samples"));
  EXPECT_THAT(error_of<ValueError>([&] { fit(model, x, y, {.epochs = -1, .optimizer = &sgd}); }), HasSubstr("epochs"));
  EXPECT_THAT(error_of<ValueError>([&] { fit(model, x, y, {.optimizer = &sgd, .verbose = 3}); }), HasSubstr("verbose"));
  EXPECT_THAT(error_of<ValueError>([&] {
                fit(model, x, y, {.optimizer = &sgd, .metrics = {{"loss", mae}}});
              }),
              HasSubstr("metric 0 has the name 'loss'"));
  EXPECT_THAT(error_of<ShapeError>([&] { fit(model, scalar(1.0), y, {.optimizer = &sgd}); }),
              HasSubstr("x is a scalar"));
  Affine other(3, 2, 2);
  SGD other_sgd(other.parameters(), 0.1);
  EXPECT_THAT(error_of<ValueError>([&] { fit(model, x, y, {.optimizer = &other_sgd, .verbose = 0}); }),
              HasSubstr("holds none of the model's 2 parameters"));
  EXPECT_THAT(error_of<ShapeError>([&] {
                fit(model, x, zeros({20, 3}), {.optimizer = &sgd, .verbose = 0});
              }),
              HasSubstr("mse"));
  EXPECT_THAT(error_of<ShapeError>([&] {
                fit(model, x, y,
                    {.optimizer = &sgd, .loss = [](const Tensor& t, const Tensor& p) { return p - t; }, .verbose = 0});
              }),
              HasSubstr("fit: the loss returned a tensor of shape [20,2], expected a scalar"));
  EXPECT_THROW(evaluate(model, x, slice(y, 0, 0, 3)), ShapeError);
  EXPECT_THROW(evaluate(model, x, y, mse, {}, 0), ValueError);
  EXPECT_THROW(predict(model, zeros({0, 3})), ValueError);
  EXPECT_THROW(predict(model, x, -1), ValueError);
}

TEST(Fit, RefusesAnOptimizerThatMissesTrainableParameters) {
  auto [y, x] = linear_data(20, 1);
  Affine affine(3, 2, 1);
  SGD only_w({affine.w}, 0.1);
  EXPECT_EQ(error_of<ValueError>([&] { fit(affine, x, y, {.optimizer = &only_w, .verbose = 0}); }),
            "fit: the SGD optimizer does not hold 1 of the model's 2 trainable parameters: 'b'; they would never "
            "train (a layer added after the optimizer was made?). Create the optimizer from model.parameters() once "
            "the model is complete");

  // A layer added after the optimizer was made is built by the first batch: refused there,
  // before any update.
  Sequential model(Dense(4));
  model.build({-1, 3});
  SGD sgd(model.parameters(), 0.1);
  model.add(Dense(2));
  const auto before = model.parameters()[0].to_vector();
  EXPECT_EQ(error_of<ValueError>([&] { fit(model, x, y, {.optimizer = &sgd, .verbose = 0}); }),
            "fit: the SGD optimizer does not hold 2 of the model's 4 trainable parameters: 'dense_1.kernel', "
            "'dense_1.bias'; they would never train (a layer added after the optimizer was made?). Create the "
            "optimizer from model.parameters() once the model is complete");
  EXPECT_EQ(model.parameters()[0].to_vector(), before);
}

TEST(Fit, AcceptsAnOptimizerWithoutTheFrozenParameters) {
  auto [y, x] = linear_data(20, 1);
  Affine model(3, 2, 1);
  model.b.requires_grad_(false);
  const auto w = model.w.to_vector(), b = model.b.to_vector();
  SGD sgd({model.w}, 0.1);
  fit(model, x, y, {.optimizer = &sgd, .verbose = 0});
  EXPECT_NE(model.w.to_vector(), w);
  EXPECT_EQ(model.b.to_vector(), b);
}

TEST(Fit, NonFiniteLossStopsBeforeTheStep) {
  auto [y, x] = linear_data(128, 1);
  Affine model(3, 2, 1);
  Adam adam(model.parameters(), 0.01);
  int calls = 0;
  LossFn exploding = [&calls](const Tensor& t, const Tensor& p) {
    Tensor l = mse(t, p);
    return ++calls == 7 ? l * std::numeric_limits<double>::quiet_NaN() : l;
  };
  model.record = true;
  const std::string msg = error_of<ValueError>(
      [&] { fit(model, x, y, {.epochs = 3, .optimizer = &adam, .loss = exploding, .verbose = 0}); });
  EXPECT_EQ(msg,
            "fit: the loss is nan at epoch 2/3, batch 3/4; training stopped with the weights from before this batch");
  ASSERT_EQ(model.weights_seen.size(), 7u);
  EXPECT_EQ(model.weights(), model.weights_seen.back());
  EXPECT_NE(model.weights_seen[6], model.weights_seen[5]);  // the earlier steps did update

  calls = 0;
  LossFn infinite = [&calls](const Tensor& t, const Tensor& p) {
    Tensor l = mse(t, p);
    return ++calls == 1 ? l + std::numeric_limits<double>::infinity() : l;
  };
  EXPECT_THAT(error_of<ValueError>([&] { fit(model, x, y, {.optimizer = &adam, .loss = infinite, .verbose = 0}); }),
              HasSubstr("the loss is inf at epoch 1/1, batch 1/4"));
}

// ---- evaluate and predict -------------------------------------------------------------------------

TEST(Predict, EqualsForwardAndRecordsNothing) {
  Generator g(5);
  Tensor x = uniform({50, 3}, -1, 1, DType::f64, &g);
  Affine model(3, 2, 4, DType::f64);
  model.train();
  Tensor p = predict(model, x, 7);
  EXPECT_TRUE(model.training());  // restored
  EXPECT_FALSE(p.requires_grad());
  EXPECT_EQ(tape().num_nodes(), 0u);
  ASSERT_EQ(p.shape(), Shape({50, 2}));
  Tensor f = model(x);
  const auto pv = p.to_vector(), fv = f.to_vector();
  for (std::size_t i = 0; i < pv.size(); ++i) EXPECT_NEAR(pv[i], fv[i], 1e-14) << i;
  // Batch size 1 and a batch larger than the data give the same.
  EXPECT_EQ(predict(model, x, 1).shape(), Shape({50, 2}));
  const auto big = predict(model, x, 500).to_vector();
  for (std::size_t i = 0; i < pv.size(); ++i) EXPECT_NEAR(big[i], fv[i], 1e-14) << i;
}

TEST(Evaluate, MeansOverTheWholeSet) {
  auto [y, x] = linear_data(45, 8, DType::f64);
  Affine model(3, 2, 4, DType::f64);
  Logs logs = evaluate(model, x, y, mse, {{"mae", mae}}, 16);
  Tensor pred = model(x);
  EXPECT_NEAR(logs.at("loss"), mse(y, pred).item(), 1e-14);
  EXPECT_NEAR(logs.at("mae"), mae(y, pred).item(), 1e-14);
  EXPECT_EQ(logs.size(), 2u);
}

// ---- allocation -----------------------------------------------------------------------------------

TEST(Fit, AllocationsDoNotGrowWithTheNumberOfBatches) {
  // fit allocates per call and per epoch (history, buffers), never per batch: ten times more
  // batches make no more allocations once the pools are warm.
  if (!testing::pooling_enabled()) GTEST_SKIP() << "tensor pools disabled (sanitizer build)";
  auto count = [](std::int64_t n) {
    auto [y, x] = linear_data(n, 1);
    Affine model(3, 2, 1);
    Adam adam(model.parameters());
    fit(model, x, y, {.epochs = 1, .optimizer = &adam, .verbose = 0});  // warm
    testing::AllocCounter counter;
    fit(model, x, y, {.epochs = 2, .optimizer = &adam, .verbose = 0});
    return counter.count();
  };
  count(640);
  const std::uint64_t small = count(64), large = count(640);
  EXPECT_GT(small, 0u);  // the counter is live
  EXPECT_EQ(small, large);
}

// ---- a small recurrent model ----------------------------------------------------------------------

TEST(Fit, SimpleRnnLearnsToContinueTheSeries) {
  Generator data_rng(42);
  ForecastSizes sizes;
  sizes.train = 1000;
  sizes.valid = 200;
  sizes.test = 1;
  sizes.steps = 20;
  ForecastData d = one_step_data(data_rng, sizes);
  // The naive forecast: the last observed value.
  const double naive = mse(d.y_valid, select(d.x_valid, 1, -1)).item();

  manual_seed(42);
  Sequential model(Input{None, 1}, SimpleRNN(20), Dense(1));
  Adam adam(model.parameters(), 0.005);
  Generator shuffle(7);
  History h = fit(model, d.x_train, d.y_train,
                  {.epochs = 10,
                   .optimizer = &adam,
                   .validation_data = std::pair{d.x_valid, d.y_valid},
                   .verbose = 0,
                   .generator = &shuffle});
  const double val = h["val_loss"].back();
  RecordProperty("naive_mse", std::to_string(naive));
  RecordProperty("val_mse", std::to_string(val));
  EXPECT_LT(val, naive / 5) << "naive " << naive << ", model " << val;
  EXPECT_NEAR(evaluate(model, d.x_valid, d.y_valid)["loss"], val, 1e-6);
}

}  // namespace
}  // namespace tg

// WindowBatches: windows as views served to fit, evaluate and predict, equal bit for bit to the
// materialised tensors, and an epoch whose memory does not grow with the number of windows.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/core/storage.h>
#include <tapegrad/data/windows.h>
#include <tapegrad/nn/training/fit.h>
#include <tapegrad/nn/training/window_batches.h>
#include <tapegrad/optim/adam.h>
#include "support/alloc_counter.h"
#include "support/error_of.h"

namespace tg {
namespace {

// A noisy sine of `steps` points, [steps, 1].
Tensor make_series(std::int64_t steps) {
  Generator g(7);
  const Tensor noise = randn({steps, 1}, DType::f32, &g);
  std::vector<double> v(static_cast<std::size_t>(steps));
  const std::vector<double> n = noise.to_vector();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.1 * static_cast<double>(i)) + 0.1 * n[i];
  return from_vector(v, {steps, 1}, DType::f32);
}

Sequential make_model() {
  manual_seed(3);
  return Sequential(Input{None, 1}, SimpleRNN(8), Dense(1));
}

std::vector<std::vector<double>> weights(const Module& m) {
  std::vector<std::vector<double>> out;
  for (const Tensor& p : m.parameters()) out.push_back(p.to_vector());
  return out;
}

// 16 + 7 windows of 12 steps, horizon 1: the last batch of 16 keeps 7.
constexpr std::int64_t kWindows = 23;
const WindowOptions kOptions{.length = 12, .horizon = 1};

void expect_same_fit(bool shuffle) {
  const WindowSet set(make_series(kWindows + 12), kOptions);
  ASSERT_EQ(set.size(), kWindows);
  const auto [x, y] = set.materialise();

  Sequential a = make_model(), b = make_model();
  Adam opt_a(a.parameters(), 0.01), opt_b(b.parameters(), 0.01);
  Generator gen_a(11), gen_b(11);
  WindowBatches batches(set);
  const History ha =
      fit(a, batches,
          {.epochs = 3, .batch_size = 16, .optimizer = &opt_a, .shuffle = shuffle, .verbose = 0, .generator = &gen_a});
  const History hb =
      fit(b, x, y,
          {.epochs = 3, .batch_size = 16, .optimizer = &opt_b, .shuffle = shuffle, .verbose = 0, .generator = &gen_b});
  EXPECT_EQ(ha["loss"], hb["loss"]);  // exact: the same values in the same order
  EXPECT_EQ(weights(a), weights(b));
  EXPECT_NE(weights(a), weights(make_model())) << "training changed nothing";
}

TEST(WindowBatches, FitEqualsFitOnMaterialisedTensorsShuffled) { expect_same_fit(true); }

TEST(WindowBatches, FitEqualsFitOnMaterialisedTensorsInOrder) { expect_same_fit(false); }

TEST(WindowBatches, LoadGathersTheWindowsAsked) {
  const WindowSet set(make_series(40), {.length = 5, .horizon = 2, .stride = 3});
  WindowBatches batches(set);
  const auto [x, y] = set.materialise();
  const std::vector<std::int64_t> rows{4, 0, 7};
  const Batch b = batches.load(rows);
  const auto [gx, gy] = set.gather(rows);
  EXPECT_EQ(b.x.shape(), (Shape{3, 5, 1}));
  EXPECT_EQ(b.x.to_vector(), gx.to_vector());
  EXPECT_EQ(b.y.to_vector(), gy.to_vector());
  EXPECT_FALSE(b.sample_weight.defined());
  EXPECT_EQ(batches.size(), set.size());
  const std::vector<std::int64_t> bad{set.size()};
  EXPECT_THROW(batches.load(bad), ValueError);
  EXPECT_THROW((void)WindowBatches(WindowSet{}), ValueError);
}

TEST(WindowBatches, EvaluateAndPredictEqualTheTensorVersions) {
  const WindowSet set(make_series(kWindows + 12), kOptions);
  const auto [x, y] = set.materialise();
  Sequential model = make_model();
  WindowBatches batches(set);
  const std::vector<Metric> metrics{{"mae", mae}};
  const Logs on_source = evaluate(model, batches, mse, metrics, 16);
  const Logs on_tensors = evaluate(model, x, y, mse, metrics, 16);
  EXPECT_EQ(on_source.at("loss"), on_tensors.at("loss"));
  EXPECT_EQ(on_source.at("mae"), on_tensors.at("mae"));
  const Tensor p_source = predict(model, batches, 16);
  const Tensor p_tensors = predict(model, x, 16);
  EXPECT_EQ(p_source.shape(), (Shape{kWindows, 1}));
  EXPECT_EQ(p_source.to_vector(), p_tensors.to_vector());
  EXPECT_THROW(evaluate(model, batches, mse, {}, 0), ValueError);
  EXPECT_THROW(predict(model, batches, 0), ValueError);
}

// An epoch gathers into buffers kept per batch size: once warm, loading every batch of an epoch
// allocates nothing, and a whole fit makes the same allocations for 263 windows as for 4103
// (the plan's order of 8 bytes per window is its only per-window memory; a materialised set
// would hold 12 x 4 + 4 bytes per window).
TEST(WindowBatches, EpochMemoryDoesNotGrowWithTheWindows) {
  if (!testing::pooling_enabled()) GTEST_SKIP() << "pools are off in the sanitizer build";
  struct Figures {
    std::uint64_t held_bytes, fit_news;
  };
  auto measure = [](std::int64_t windows) {
    const Tensor series = make_series(windows + 12);
    const std::uint64_t in_use = pool_stats().bytes_in_use;
    const WindowSet set(series, kOptions);
    WindowBatches batches(set);
    BatchPlan plan(batches.size(), 32);
    Generator gen(5);
    for (std::int64_t s = 0; s < plan.steps(); ++s) batches.load(plan.rows(s));  // warm
    const std::uint64_t held = pool_stats().bytes_in_use - in_use;               // the batch buffers
    plan.shuffle(gen);
    std::uint64_t load_news = 0;
    const std::uint64_t system_before = pool_stats().system_allocs;
    {
      testing::AllocCounter counter;
      for (std::int64_t s = 0; s < plan.steps(); ++s) batches.load(plan.rows(s));
      load_news = counter.count();
    }
    EXPECT_EQ(load_news, 0u) << windows << " windows";
    EXPECT_EQ(pool_stats().system_allocs, system_before) << windows << " windows";

    Sequential model = make_model();
    Adam opt(model.parameters(), 0.001);
    const FitOptions options{.epochs = 1, .batch_size = 32, .optimizer = &opt, .verbose = 0, .generator = &gen};
    fit(model, batches, options);  // warm: pool, tape, optimizer state
    const std::uint64_t pool_before = pool_stats().system_allocs;
    std::uint64_t news = 0;
    {
      testing::AllocCounter counter;
      fit(model, batches, options);
      news = counter.count();
    }
    EXPECT_EQ(pool_stats().system_allocs, pool_before) << windows << " windows: buffers not from the pool";
    return Figures{held, news};
  };
  const Figures small = measure(32 * 8 + 7), large = measure(32 * 128 + 7);
  EXPECT_EQ(small.held_bytes, large.held_bytes) << "the source's tensors grow with the number of windows";
  EXPECT_LT(large.held_bytes, 2u * 32 * 13 * 4 * 2) << "more than a full and a last batch, with pool rounding";
  EXPECT_EQ(small.fit_news, large.fit_news) << "a fit's allocations grow with the number of windows";
}

}  // namespace
}  // namespace tg

#include <tapegrad/data/splits.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <tapegrad/core/error.h>

#include "support/error_of.h"

namespace tg {
namespace {

bool has(const std::string& message, const std::string& part) { return message.find(part) != std::string::npos; }

TEST(Splits, ByFractionsAreConsecutiveAndCoverTheSeries) {
  const TimeSplit s = split_by_fractions(103, 0.7, 0.2, 0.1);
  EXPECT_EQ(s.train, (TimeRange{0, 72}));   // floor(72.1)
  EXPECT_EQ(s.valid, (TimeRange{72, 92}));  // floor(20.6)
  EXPECT_EQ(s.test, (TimeRange{92, 103}));  // the rest: fractions sum to 1
  const TimeSplit partial = split_by_fractions(100, 0.5, 0.0, 0.25);
  EXPECT_EQ(partial.valid.size(), 0);
  EXPECT_EQ(partial.test, (TimeRange{50, 75}));
  EXPECT_TRUE(
      has(testing::error_of<ValueError>([] { split_by_fractions(100, 0.8, 0.2, 0.1); }), "summing to at most 1"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { split_by_fractions(100, -0.1, 0.2, 0.1); }), "train fraction"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { split_by_fractions(10, 0.95, 0.0, 0.01); }),
                  "at least one step in the train and the test parts of 10 steps, got 9 and 0"));
}

TEST(Splits, ByCountsEndWithTheTestPart) {
  const TimeSplit s = split_by_counts(100, 60, 20, 10);
  EXPECT_EQ(s.train, (TimeRange{10, 70}));
  EXPECT_EQ(s.valid, (TimeRange{70, 90}));
  EXPECT_EQ(s.test, (TimeRange{90, 100}));
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { split_by_counts(100, 80, 20, 10); }),
                  "80 + 20 + 10 steps asked for, but the series has 100"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { split_by_counts(100, INT64_MAX, 1, 1); }), "asked for"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { split_by_counts(100, 10, -1, 10); }), "validation count"));
}

TEST(Splits, WindowsNeverTakeTargetsAcrossABoundary) {
  std::vector<double> v(100);
  for (std::size_t t = 0; t < v.size(); ++t) v[t] = static_cast<double>(t);
  const Tensor series = from_vector(v, Shape{100, 1}, DType::f64);
  const TimeSplit split = split_by_counts(100, 70, 20, 10);  // train [0, 70), valid [70, 90), test [90, 100)
  const WindowOptions o{.length = 6, .horizon = 3};
  for (const WindowContext ctx : {WindowContext::past, WindowContext::inside}) {
    const SplitWindows w = split_windows(series, o, split, ctx);
    for (const auto& [set, part] :
         {std::pair{&w.train, split.train}, std::pair{&w.valid, split.valid}, std::pair{&w.test, split.test}}) {
      const auto [x, y] = set->materialise();
      const std::vector<double> xs = x.to_vector(), ys = y.to_vector();
      // Every target inside the part (values are step numbers).
      for (double t : ys) {
        EXPECT_GE(t, part.begin);
        EXPECT_LT(t, part.end);
      }
      // The last window's last target is the part's last step: no window with targets in the
      // part is lost at its end.
      EXPECT_EQ(ys.back(), part.end - 1);
      const double first_input = xs.front();
      if (ctx == WindowContext::inside) {
        EXPECT_GE(first_input, part.begin);
      } else {
        // The first window forecasts the part's first step from the steps right before it.
        EXPECT_EQ(ys.front(), std::max<std::int64_t>(part.begin, 6));
      }
    }
    EXPECT_EQ(w.test.size(), ctx == WindowContext::past ? 10 - 3 + 1 : 10 - 9 + 1);
  }
  // A part too short for one window names itself.
  EXPECT_TRUE(has(testing::error_of<ValueError>(
                      [&] { split_windows(series, {.length = 12, .horizon = 3}, split, WindowContext::inside); }),
                  "split_windows: test part [90, 100)"));
}

TEST(Backtest, RollingOriginsTrainOnThePastAndScoreTheNextHSteps) {
  const std::vector<BacktestFold> folds = rolling_origins(100, {.folds = 3, .horizon = 5});
  ASSERT_EQ(folds.size(), 3u);
  // The last fold scores the last 5 steps; origins are 5 apart, so the tests tile the end.
  EXPECT_EQ(folds[0].train, (TimeRange{0, 85}));
  EXPECT_EQ(folds[0].test, (TimeRange{85, 90}));
  EXPECT_EQ(folds[1].test, (TimeRange{90, 95}));
  EXPECT_EQ(folds[2].train, (TimeRange{0, 95}));
  EXPECT_EQ(folds[2].test, (TimeRange{95, 100}));
  for (const BacktestFold& f : folds) EXPECT_EQ(f.train.end, f.test.begin);

  const std::vector<BacktestFold> sliding =
      rolling_origins(50, {.folds = 4, .horizon = 3, .step = 2, .min_train = 10, .max_train = 20});
  EXPECT_EQ(sliding[0].train, (TimeRange{21, 41}));
  EXPECT_EQ(sliding[0].test, (TimeRange{41, 44}));
  EXPECT_EQ(sliding[3].test, (TimeRange{47, 50}));

  EXPECT_TRUE(
      has(testing::error_of<ValueError>([] { rolling_origins(20, {.folds = 4, .horizon = 5, .min_train = 2}); }),
          "4 folds of horizon 5, 5 steps apart, after at least 2 training steps need a series of 22 steps, "
          "got 20"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { rolling_origins(20, {.folds = 0}); }), "folds of at least 1"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { rolling_origins(20, {.folds = INT64_MAX, .horizon = 4}); }),
                  "more than 2^63"));
}

}  // namespace
}  // namespace tg

#include <tapegrad/data/transforms.h>

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <tapegrad/core/error.h>

#include "support/error_of.h"

namespace tg {
namespace {

bool has(const std::string& message, const std::string& part) { return message.find(part) != std::string::npos; }

/// A positive monthly-like series with a trend and a season of 12: 100 + t + 10 sin(2 pi t / 12).
std::vector<double> seasonal(std::int64_t n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t t = 0; t < n; ++t)
    v[static_cast<std::size_t>(t)] = 100.0 + static_cast<double>(t) + 10.0 * std::sin(2.0 * M_PI * t / 12.0) +
                                     0.5 * std::cos(1.7 * static_cast<double>(t));
  return v;
}

std::vector<double> slice(const std::vector<double>& v, std::size_t begin, std::size_t end) {
  return {v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(end)};
}

Tensor column(const std::vector<double>& v) {
  return from_vector(v, Shape{static_cast<std::int64_t>(v.size())}, DType::f64);
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i]))) << i;
}

TEST(Transforms, StandardScaleUsesTheTrainingPartOnly) {
  // Two columns; the series goes on past the training part with other values.
  const std::vector<double> v = {1, 10, 2, 20, 3, 30, 4, 40, 100, 1000};
  const Tensor series = from_vector(v, Shape{5, 2}, DType::f64);
  const Tensor train = from_vector(slice(v, 0, 8), Shape{4, 2}, DType::f64);
  StandardScale s;
  s.fit(train);
  EXPECT_EQ(s.mean(), (std::vector<double>{2.5, 25}));
  // Population deviation of 1, 2, 3, 4: sqrt(1.25).
  EXPECT_DOUBLE_EQ(s.deviation()[0], std::sqrt(1.25));
  EXPECT_DOUBLE_EQ(s.deviation()[1], 10 * std::sqrt(1.25));
  const std::vector<double> z = s.apply(series).to_vector();
  EXPECT_DOUBLE_EQ(z[8], (100 - 2.5) / std::sqrt(1.25));  // scaled with the training part's statistics
  // Round trip of a forecast of column 1.
  const Tensor back = s.inverse(from_vector(std::vector<double>{z[1], z[9]}, Shape{2}, DType::f64),
                                from_vector(std::vector<double>{}, Shape{0}, DType::f64), 1);
  expect_near(back.to_vector(), {10, 1000}, 1e-15);
}

TEST(Transforms, ConstantColumnIsAClearErrorNotNaN) {
  StandardScale s;
  const std::string m = testing::error_of<ValueError>([&] { s.fit(column({0.1, 0.1, 0.1})); });
  EXPECT_TRUE(has(m, "standard_scale: column 0 is constant in the training part")) << m;
  EXPECT_TRUE(has(m, "deviation is 0")) << m;
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { MinMaxScale().fit(column({5, 5})); }), "its range is 0"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([&] { s.apply(column({1, 2})); }), "standard_scale: apply before fit"));
}

TEST(Transforms, MinMaxScale) {
  MinMaxScale m(-1, 1);
  m.fit(column({2, 6, 4}));
  expect_near(m.apply(column({2, 6, 4, 10})).to_vector(), {-1, 1, 0, 3}, 1e-15);
  expect_near(m.inverse(column({-1, 3}), column({})).to_vector(), {2, 10}, 1e-15);
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { MinMaxScale(1, 1); }), "low < high"));
}

TEST(Transforms, DifferencingLag1AndSeasonalRoundTrip) {
  const std::vector<double> v = seasonal(60);
  for (const std::int64_t lag : {1, 12}) {
    SCOPED_TRACE(lag);
    Difference d(lag);
    const std::vector<double> z = d.fit_apply(column(v)).to_vector();
    ASSERT_EQ(z.size(), v.size() - static_cast<std::size_t>(lag));
    for (std::size_t t = 0; t < z.size(); ++t) EXPECT_EQ(z[t], v[t + lag] - v[t]);
    // The whole series back from its differences and its first `lag` values (a forecast of
    // L - lag steps, longer than the lag: it continues from its own values).
    const std::vector<double> back =
        d.inverse(column(z), column(slice(v, 0, static_cast<std::size_t>(lag)))).to_vector();
    expect_near(back, slice(v, static_cast<std::size_t>(lag), v.size()), 1e-12);
  }
  EXPECT_TRUE(has(testing::error_of<ValueError>([] { Difference(0); }), "lag of at least 1, got 0"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([] {
                    Difference(12).fit(column({1, 2, 3}));
                  }),
                  "more than 12 steps (the lag), got 3"));
  Difference d(3);
  d.fit(column({1, 2, 3, 4}));
  EXPECT_TRUE(has(testing::error_of<ValueError>([&] {
                    d.inverse(column({1}), column({1, 2}));
                  }),
                  "history of at least 3 steps (the lag), got 2"));
}

TEST(Transforms, LogRefusesNonPositiveValues) {
  Log l;
  EXPECT_TRUE(has(testing::error_of<ValueError>([&] {
                    l.fit(column({1, 2, 0, 3}));
                  }),
                  "log: training part step 2, column 0: expected a positive value, got 0"));
  l.fit(column({1, 2}));
  EXPECT_TRUE(has(testing::error_of<ValueError>([&] { l.apply(column({1, -2})); }), "step 1, column 0"));
  expect_near(l.inverse(l.apply(column({0.5, 2, 7})), column({})).to_vector(), {0.5, 2, 7}, 1e-15);
  EXPECT_TRUE(has(testing::error_of<ValueError>([&] { l.fit(column({1, NAN})); }), "expected a finite value, got nan"));
}

TEST(Transforms, PipelineForecastsComeBackInTheSeriesUnits) {
  // Log, seasonal differencing and scaling fitted on the first 72 steps of a series of 96.
  const std::vector<double> v = seasonal(96);
  const Tensor series = column(v);
  Pipeline prep(Log(), Difference(12), StandardScale());
  EXPECT_EQ(prep.lag(), 12);
  EXPECT_EQ(prep.name(), "pipeline(log, difference(12), standard_scale)");
  prep.fit(column(slice(v, 0, 72)));
  // The scaler saw the differenced logs of the training part only.
  const auto& scale = dynamic_cast<const StandardScale&>(prep.stage(2));
  double mean = 0;
  for (std::size_t t = 12; t < 72; ++t) mean += std::log(v[t]) - std::log(v[t - 12]);
  EXPECT_NEAR(scale.mean()[0], mean / 60, 1e-14);

  const std::vector<double> z = prep.apply(series).to_vector();  // row j is step j + 12
  ASSERT_EQ(z.size(), 84u);
  // Forecasts of H = 15 steps (longer than the season) from three origins, as a batch [3, 15]
  // with histories [3, 24]: the exact transformed future comes back as the series' values.
  const std::int64_t h = 15, k = 24;
  const std::vector<std::size_t> origins = {30, 60, 81};
  std::vector<double> f, past, want;
  for (std::size_t o : origins) {
    for (std::int64_t i = 0; i < h; ++i) f.push_back(z[o + static_cast<std::size_t>(i) - 12]);
    for (std::int64_t i = 0; i < k; ++i) past.push_back(v[o - static_cast<std::size_t>(k - i)]);
    for (std::int64_t i = 0; i < h; ++i) want.push_back(v[o + static_cast<std::size_t>(i)]);
  }
  const Tensor back = prep.inverse(from_vector(f, Shape{3, h}, DType::f64), from_vector(past, Shape{3, k}, DType::f64));
  EXPECT_EQ(back.shape(), (Shape{3, h}));
  expect_near(back.to_vector(), want, 1e-12);
  // float32 in, float32 out.
  EXPECT_EQ(prep.inverse(from_vector(f, Shape{3, h}), from_vector(past, Shape{3, k})).dtype(), DType::f32);

  EXPECT_TRUE(has(testing::error_of<ValueError>([&] {
                    prep.inverse(column({0.1}), column({1, 2, 3}));
                  }),
                  "history of at least 12 steps (the lag), got 3"));
  // A copy is fitted as the original is and independent of it.
  Pipeline copy = prep;
  EXPECT_EQ(copy.apply(series).to_vector(), z);
}

TEST(Transforms, PipelineOfScalingsNeedsNoHistory) {
  Pipeline p{MinMaxScale(), StandardScale()};
  const Tensor train = from_vector(std::vector<double>{1, 5, 2, 6, 4, 9}, Shape{3, 2}, DType::f64);
  const Tensor z = p.fit_apply(train);
  const std::vector<double> zs = z.to_vector();
  expect_near(p.inverse(column({zs[1], zs[3], zs[5]}), column({}), 1).to_vector(), {5, 6, 9}, 1e-14);
  EXPECT_TRUE(has(testing::error_of<ShapeError>([&] { p.apply(column({1, 2})); }), "expected 2 columns (as fitted)"));
  EXPECT_TRUE(has(testing::error_of<ValueError>([&] { p.inverse(column({1}), column({}), 2); }),
                  "column 2 asked for, but it was fitted on 2 columns"));
}

}  // namespace
}  // namespace tg

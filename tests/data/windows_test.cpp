#include <tapegrad/data/windows.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/core/error.h>

#include "support/alloc_counter.h"
#include "support/error_of.h"

namespace tg {
namespace {

struct WindowCase {
  std::string name;
  std::int64_t steps = 0, features = 0;
  WindowOptions options;
  TimeRange range;
  std::vector<double> series;
  std::vector<std::int64_t> x_shape, y_shape;
  std::vector<double> x, y;
};

std::vector<WindowCase> read_window_goldens() {
  std::ifstream in(std::string(TAPEGRAD_GOLDEN_DIR) + "/windows.txt");
  if (!in) throw std::runtime_error("cannot open tests/goldens/windows.txt");
  std::vector<WindowCase> cases;
  std::string line;
  auto read_values = [](std::istringstream& s, std::vector<double>& out) {
    double v = 0;
    while (s >> v) out.push_back(v);
  };
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string tag;
    s >> tag;
    if (tag == "case") {
      cases.emplace_back();
      s >> cases.back().name;
    } else if (tag == "options") {
      WindowCase& c = cases.back();
      int seq = 0;
      std::int64_t k = 0;
      s >> c.steps >> c.features >> c.options.length >> c.options.horizon >> c.options.stride >>
          c.options.sampling_rate >> c.options.target_column >> seq >> c.range.begin >> c.range.end >> k;
      c.options.sequence_targets = seq != 0;
      for (std::int64_t i = 0; i < k; ++i) {
        std::int64_t col = 0;
        s >> col;
        c.options.input_columns.push_back(col);
      }
    } else if (tag == "series") {
      read_values(s, cases.back().series);
    } else if (tag == "x") {
      WindowCase& c = cases.back();
      c.x_shape.resize(3);
      s >> c.x_shape[0] >> c.x_shape[1] >> c.x_shape[2];
      read_values(s, c.x);
    } else if (tag == "y") {
      WindowCase& c = cases.back();
      int rank = 0;
      s >> rank;
      c.y_shape.resize(static_cast<std::size_t>(rank));
      for (auto& d : c.y_shape) s >> d;
      read_values(s, c.y);
    }
  }
  return cases;
}

std::vector<std::int64_t> dims(const Tensor& t) { return {t.shape().begin(), t.shape().end()}; }

TEST(Windows, MatchTheNumpyReferenceOfKerasTimeseriesDataset) {
  const std::vector<WindowCase> cases = read_window_goldens();
  ASSERT_EQ(cases.size(), 8u);
  for (const WindowCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor series = from_vector(c.series, Shape{c.steps, c.features}, DType::f64);
    const WindowSet w(series, c.options, c.range);
    EXPECT_EQ(w.size(), c.x_shape[0]);
    const auto [x, y] = w.materialise();
    EXPECT_EQ(dims(x), c.x_shape);
    EXPECT_EQ(dims(y), c.y_shape);
    EXPECT_EQ(x.to_vector(), c.x);  // copies: bit for bit
    EXPECT_EQ(y.to_vector(), c.y);

    // float32 series give float32 windows, and a gathered batch is the same rows in any order.
    const WindowSet w32(series.to(DType::f32), c.options, c.range);
    const std::vector<std::int64_t> rows = {w.size() - 1, 0, w.size() / 2, 0};
    const auto [xb, yb] = w32.gather(rows);
    EXPECT_EQ(xb.dtype(), DType::f32);
    const std::int64_t xr = c.x_shape[1] * c.x_shape[2], yr = static_cast<std::int64_t>(c.y.size()) / w.size();
    const std::vector<double> xv = xb.to_vector(), yv = yb.to_vector();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      for (std::int64_t j = 0; j < xr; ++j)
        EXPECT_EQ(xv[i * xr + j], static_cast<float>(c.x[static_cast<std::size_t>(rows[i] * xr + j)]));
      for (std::int64_t j = 0; j < yr; ++j)
        EXPECT_EQ(yv[i * yr + j], static_cast<float>(c.y[static_cast<std::size_t>(rows[i] * yr + j)]));
    }
  }
}

TEST(Windows, StartsTargetsAndExtent) {
  // s[t] = t: every value says where it came from.
  std::vector<double> s(20);
  for (std::size_t t = 0; t < s.size(); ++t) s[t] = static_cast<double>(t);
  const Tensor series = from_vector(s, Shape{20}, DType::f64);
  const WindowSet w(series, {.length = 4, .horizon = 2, .stride = 3, .sampling_rate = 2});
  // span (4 - 1 + 2) * 2 + 1 = 11: starts 0, 3, 6, 9 (9 + 10 = 19 is the last step).
  EXPECT_EQ(w.options().span(), 11);
  EXPECT_EQ(w.size(), 4);
  EXPECT_EQ(w.start(3), 9);
  EXPECT_EQ(w.first_target(1), 3 + 8);
  EXPECT_EQ(w.extent(), (TimeRange{0, 20}));
  const auto [x, y] = w.gather(std::vector<std::int64_t>{1});
  EXPECT_EQ(x.to_vector(), (std::vector<double>{3, 5, 7, 9}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{11, 13}));
}

TEST(Windows, GatherReusesItsTensors) {
  std::vector<double> s(100, 1.0);
  const WindowSet w(from_vector(s, Shape{50, 2}), {.length = 5, .horizon = 1});
  Tensor x, y;
  const std::vector<std::int64_t> rows = {0, 1, 2, 3};
  w.gather(rows, x, y);
  const void* px = x.raw_data();
  const void* py = y.raw_data();
  w.gather(rows, x, y);
  EXPECT_EQ(x.raw_data(), px);
  EXPECT_EQ(y.raw_data(), py);
  if (testing::pooling_enabled()) {
    testing::AllocCounter count;
    for (int i = 0; i < 10; ++i) w.gather(rows, x, y);
    EXPECT_EQ(count.count(), 0u);
  }
  // Another batch size: new tensors of that size.
  w.gather(std::vector<std::int64_t>{7}, x, y);
  EXPECT_EQ(x.shape(), (Shape{1, 5, 2}));
  EXPECT_EQ(y.shape(), (Shape{1, 1}));
}

TEST(Windows, TenMillionStepsInWindowsOf50StayAView) {
  // Materialised, the inputs would be 10^7 x 50 floats: 2 GB. The set holds the 40 MB series and
  // allocates nothing per window; a batch of 32 windows is all that gets copied.
  const std::int64_t steps = 10'000'000;
  Tensor series = Tensor::empty(Shape{steps, 1}, DType::f32);
  float* p = series.data<float>();
  for (std::int64_t t = 0; t < steps; ++t) p[t] = static_cast<float>(t % 1000);
  std::uint64_t allocations = 0;
  WindowSet w;
  {
    testing::AllocCounter count;
    w = WindowSet(series, {.length = 50, .horizon = 1});
    allocations = count.count();
  }
  EXPECT_LE(allocations, 2u);  // the input-column list, nothing per window
  EXPECT_EQ(w.size(), steps - 50);
  std::vector<std::int64_t> rows(32);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = w.size() - 1 - static_cast<std::int64_t>(i) * 100'003;
  const auto [x, y] = w.gather(rows);
  EXPECT_EQ(x.shape(), (Shape{32, 50, 1}));
  const std::int64_t last = w.size() - 1;
  EXPECT_EQ(x.at({0, 0, 0}), static_cast<double>(last % 1000));
  EXPECT_EQ(y.at({0, 0}), static_cast<double>((last + 50) % 1000));
}

TEST(Windows, ErrorsSayWhatWasExpected) {
  const Tensor series = from_vector(std::vector<double>(30, 0.5), Shape{10, 3});
  EXPECT_NE(testing::error_of<ValueError>([&] { WindowSet(series, {.length = 8, .horizon = 3}); })
                .find("a window of 8 steps, horizon 3 and sampling rate 1 spans 11 steps of the series, but the "
                      "range [0, 10) has only 10"),
            std::string::npos);
  EXPECT_NE(
      testing::error_of<ValueError>([&] { WindowSet(series, {.length = 0}); }).find("length must be at least 1, got 0"),
      std::string::npos);
  EXPECT_NE(testing::error_of<ValueError>([&] {
              WindowSet(series, {.target_column = 3});
            }).find("target_column 3 is outside the series' 3 columns"),
            std::string::npos);
  EXPECT_NE(testing::error_of<ValueError>([&] {
              WindowSet(series, {.input_columns = {0, -1}});
            }).find("input column -1"),
            std::string::npos);
  EXPECT_NE(testing::error_of<ValueError>([&] {
              WindowSet(series, {}, {4, 11});
            }).find("range [4, 11) is not inside"),
            std::string::npos);
  EXPECT_NE(testing::error_of<ShapeError>([&] { WindowSet(zeros({2, 3, 4}), {}); }).find("[2,3,4]"), std::string::npos);
  const WindowSet w(series, {.length = 2});
  EXPECT_NE(testing::error_of<ValueError>([&] {
              w.gather(std::vector<std::int64_t>{8});
            }).find("window 8 asked for, but there are 8 (0 to 7)"),
            std::string::npos);
  // A span past int64 is too long for any series, not an overflow.
  EXPECT_NE(testing::error_of<ValueError>([&] {
              WindowSet(series, {.length = INT64_MAX / 2, .horizon = INT64_MAX / 2, .sampling_rate = 4});
            }).find("but the range [0, 10) has only 10"),
            std::string::npos);
}

TEST(Windows, TargetsInAPartWithContext) {
  const Tensor series = from_vector(std::vector<double>(30, 1.0), Shape{30});
  const WindowOptions o{.length = 5, .horizon = 2};
  // Part [20, 30): with the past as context, the first window's inputs are steps 15..19 and its
  // first target is step 20; inside the part, its inputs are 20..24 and its first target 25.
  const WindowSet past = WindowSet::for_targets_in(series, o, {20, 30}, WindowContext::past);
  EXPECT_EQ(past.first_target(0), 20);
  EXPECT_EQ(past.size(), 9);  // first targets 20..28 (28 + 1 = 29 the last step)
  const WindowSet inside = WindowSet::for_targets_in(series, o, {20, 30}, WindowContext::inside);
  EXPECT_EQ(inside.start(0), 20);
  EXPECT_EQ(inside.first_target(0), 25);
  EXPECT_EQ(inside.size(), 4);
  // Sequence targets start one step after the window's start.
  WindowOptions seq = o;
  seq.sequence_targets = true;
  EXPECT_EQ(WindowSet::for_targets_in(series, seq, {20, 30}).start(0), 19);
}

}  // namespace
}  // namespace tg

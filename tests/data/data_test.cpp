#include <tapegrad/data/series.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

// ---- a minimal JSON reader, enough for tests/goldens/time_series.json ------------------------

struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  double number = 0.0;
  std::string text;
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  const Json& operator[](const std::string& key) const {
    auto it = fields.find(key);
    if (it == fields.end()) throw std::runtime_error("golden: no field " + key);
    return it->second;
  }
  const Json& operator[](std::size_t i) const { return items.at(i); }
  std::size_t size() const { return kind == Kind::array ? items.size() : fields.size(); }
};

class JsonParser {
 public:
  explicit JsonParser(std::string text) : s_(std::move(text)) {}

  Json parse() {
    Json v = value();
    skip_space();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("golden JSON: " + what + " at offset " + std::to_string(i_));
  }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string_literal() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') ++i_;  // the goldens hold no escapes beyond \" and \\ .
      out += s_[i_++];
    }
    expect('"');
    return out;
  }
  Json value() {
    skip_space();
    Json v;
    if (i_ >= s_.size()) fail("unexpected end");
    char c = s_[i_];
    if (c == '{') {
      v.kind = Json::Kind::object;
      ++i_;
      if (eat('}')) return v;
      do {
        std::string key = string_literal();
        expect(':');
        v.fields[key] = value();
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      v.kind = Json::Kind::array;
      ++i_;
      if (eat(']')) return v;
      do v.items.push_back(value());
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::Kind::string;
      v.text = string_literal();
    } else if (s_.compare(i_, 4, "true") == 0 || s_.compare(i_, 5, "false") == 0) {
      v.kind = Json::Kind::boolean;
      v.number = c == 't';
      i_ += c == 't' ? 4 : 5;
    } else if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
    } else {
      v.kind = Json::Kind::number;
      const char* begin = s_.c_str() + i_;
      char* end = nullptr;
      v.number = std::strtod(begin, &end);  // correctly rounded: repr() round-trips exactly
      if (end == begin) fail("expected a value");
      i_ += static_cast<std::size_t>(end - begin);
    }
    return v;
  }

  std::string s_;
  std::size_t i_ = 0;
};

const Json& golden() {
  static const Json g = [] {
    std::string path = std::string(TAPEGRAD_GOLDEN_DIR) + "/time_series.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return JsonParser(ss.str()).parse();
  }();
  return g;
}

// ---- helpers ----------------------------------------------------------------------------------

std::vector<std::int64_t> as_index(const Json& j) {
  std::vector<std::int64_t> idx;
  for (const Json& v : j.items) idx.push_back(static_cast<std::int64_t>(v.number));
  return idx;
}

/// Checks `series` against a fingerprint written by scripts/make_data_goldens.py: shape, the
/// first values and a few indexed values bit for bit, the sums to 1e-6 relative.
template <class T>
void expect_matches_golden(const Tensor& series, const Json& g) {
  ASSERT_EQ(series.rank(), 3);
  ASSERT_EQ(g["shape"].size(), 3u);
  for (int a = 0; a < 3; ++a)
    ASSERT_EQ(series.size(a), static_cast<std::int64_t>(g["shape"][static_cast<std::size_t>(a)].number));
  const T* p = series.data<T>();

  const Json& first = g["first"];
  ASSERT_EQ(first.size(), 20u);
  for (std::size_t i = 0; i < first.size(); ++i) {
    T want = static_cast<T>(first[i].number);
    ASSERT_EQ(static_cast<double>(want), first[i].number) << "golden value is not a " << dtype_name(dtype_of<T>);
    EXPECT_EQ(p[i], want) << "element " << i;
  }

  const std::int64_t steps = series.size(1);
  for (const Json& entry : g["values"].items) {
    auto idx = as_index(entry["index"]);
    ASSERT_EQ(idx.size(), 3u);
    T want = static_cast<T>(entry["value"].number);
    EXPECT_EQ(p[idx[0] * steps + idx[1] + idx[2]], want) << "at [" << idx[0] << "," << idx[1] << "," << idx[2] << "]";
  }

  long double sum = 0, sum_squares = 0;  // numpy sums pairwise; long double keeps ours as exact
  for (std::int64_t i = 0; i < series.numel(); ++i) {
    long double v = p[i];
    sum += v;
    sum_squares += v * v;
  }
  double want_sum = g["sum"].number, want_squares = g["sum_squares"].number;
  EXPECT_NEAR(static_cast<double>(sum), want_sum, 1e-6 * std::abs(want_sum));
  EXPECT_NEAR(static_cast<double>(sum_squares), want_squares, 1e-6 * std::abs(want_squares));
}

double mse(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s / static_cast<double>(a.size());
}

void expect_shape(const Tensor& t, const Shape& want) { EXPECT_EQ(t.shape(), want) << t.shape().str(); }

// ---- the notebook's series --------------------------------------------------------------------

TEST(TimeSeries, GeneratorIsNumpys) {
  Generator rng(42);  // the walkthrough's first three np.random.rand() values for seed 42
  EXPECT_NEAR(rng.uniform(), 0.3745401188, 1e-10);
  EXPECT_NEAR(rng.uniform(), 0.9507143064, 1e-10);
  EXPECT_NEAR(rng.uniform(), 0.7319939418, 1e-10);
}

TEST(TimeSeries, OneStepSeriesMatchesNumpy) {
  Generator rng(42);
  Tensor s = generate_time_series(10000, 51, rng);
  EXPECT_EQ(s.dtype(), DType::f32);
  expect_matches_golden<float>(s, golden()["one_step"]);
}

TEST(TimeSeries, TenStepSeriesMatchesNumpy) {
  Generator rng(42);
  Tensor s = generate_time_series(10000, 60, rng);
  expect_matches_golden<float>(s, golden()["ten_step"]);
}

// The float32 cast hides most last-bit differences of the float64 math (a fused multiply-add,
// another linspace formula); the float64 series shows them.
TEST(TimeSeries, Float64SeriesMatchesNumpyBitForBit) {
  Generator rng(42);
  Tensor s51 = generate_time_series(10000, 51, rng, DType::f64);
  EXPECT_EQ(s51.dtype(), DType::f64);
  expect_matches_golden<double>(s51, golden()["one_step_f64"]);
  rng.seed(42);
  expect_matches_golden<double>(generate_time_series(10000, 60, rng, DType::f64), golden()["ten_step_f64"]);
}

TEST(TimeSeries, Float32IsTheRoundedFloat64) {
  Generator a(7), b(7);
  Tensor s32 = generate_time_series(50, 13, a);
  Tensor s64 = generate_time_series(50, 13, b, DType::f64);
  const float* p = s32.data<float>();
  const double* q = s64.data<double>();
  for (std::int64_t i = 0; i < s32.numel(); ++i) {
    ASSERT_EQ(p[i], static_cast<float>(q[i])) << i;
    // round to nearest: no float lies strictly closer to the double
    EXPECT_LE(std::abs(static_cast<double>(p[i]) - q[i]),
              std::abs(static_cast<double>(std::nextafter(p[i], q[i] > p[i] ? 1.0f : -1.0f)) - q[i]));
  }
}

TEST(TimeSeries, ValuesStayWithinTheWavesAmplitudes) {
  Generator rng(3);
  Tensor s = generate_time_series(200, 40, rng);
  const float* p = s.data<float>();
  double lo = 1, hi = -1;
  for (std::int64_t i = 0; i < s.numel(); ++i) {
    ASSERT_TRUE(std::isfinite(p[i]));
    lo = std::min(lo, static_cast<double>(p[i]));
    hi = std::max(hi, static_cast<double>(p[i]));
  }
  EXPECT_GE(lo, -0.75);  // 0.5 + 0.2 + 0.05
  EXPECT_LE(hi, 0.75);
  EXPECT_LT(lo, -0.4);  // and the waves do swing
  EXPECT_GT(hi, 0.4);
}

TEST(TimeSeries, DrawsExactlyTheNotebooksUniforms) {
  Generator rng(11), expected(11);
  generate_time_series(6, 9, rng);
  for (int i = 0; i < 4 * 6 + 6 * 9; ++i) expected.uniform();
  EXPECT_EQ(rng.uniform(), expected.uniform());
}

TEST(TimeSeries, RejectsBadSizes) {
  Generator rng(1);
  EXPECT_THROW(generate_time_series(0, 10, rng), ValueError);
  EXPECT_THROW(generate_time_series(-3, 10, rng), ValueError);
  EXPECT_THROW(generate_time_series(4, 1, rng), ValueError);
  try {
    generate_time_series(4, 1, rng);
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("steps"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("got 1"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(generate_time_series(1, 2, rng));

  ForecastSizes bad;
  bad.valid = 0;
  EXPECT_THROW(one_step_data(rng, bad), ValueError);
  bad = {};
  bad.ahead = 0;
  EXPECT_THROW(ten_step_data(rng, bad), ValueError);
  EXPECT_THROW(seq2seq_data(rng, bad), ValueError);
  bad = {};
  bad.steps = 0;
  EXPECT_THROW(seq2seq_data(rng, bad), ValueError);
}

// ---- the notebook's datasets ------------------------------------------------------------------

TEST(ForecastData, NotebookNaiveForecasts) {
  Generator rng(42);
  ForecastData one = one_step_data(rng);
  expect_shape(one.x_train, {7000, 50, 1});
  expect_shape(one.y_train, {7000, 1});
  expect_shape(one.x_valid, {2000, 50, 1});
  expect_shape(one.y_valid, {2000, 1});
  expect_shape(one.x_test, {1000, 50, 1});
  expect_shape(one.y_test, {1000, 1});
  std::vector<double> last, target = one.y_valid.to_vector();
  for (std::int64_t i = 0; i < 2000; ++i) last.push_back(one.x_valid.at({i, 49, 0}));
  double naive = mse(last, target);
  EXPECT_NEAR(naive, golden()["naive_one_step_valid_mse"].number, 1e-6);
  EXPECT_NEAR(naive, 0.020211, 5e-7);  // printed by the notebook

  rng.seed(42);
  ForecastData ten = ten_step_data(rng);
  expect_shape(ten.x_train, {7000, 50, 1});
  expect_shape(ten.y_train, {7000, 10});
  expect_shape(ten.y_valid, {2000, 10});
  expect_shape(ten.y_test, {1000, 10});
  std::vector<double> repeated;
  for (std::int64_t i = 0; i < 2000; ++i)
    for (int k = 0; k < 10; ++k) repeated.push_back(ten.x_valid.at({i, 49, 0}));
  double naive10 = mse(repeated, ten.y_valid.to_vector());
  EXPECT_NEAR(naive10, golden()["naive_ten_step_valid_mse"].number, 1e-6);
  EXPECT_NEAR(naive10, 0.25697, 5e-6);
}

TEST(ForecastData, SplitsAreConsecutiveRowsOfOneSeries) {
  ForecastSizes sizes{.train = 5, .valid = 3, .test = 2, .steps = 8, .ahead = 3};
  Generator a(9), b(9);
  Tensor series = generate_time_series(10, 9, a);
  ForecastData d = one_step_data(b, sizes);
  expect_shape(d.x_train, {5, 8, 1});
  expect_shape(d.y_valid, {3, 1});
  expect_shape(d.x_test, {2, 8, 1});
  const Tensor* xs[] = {&d.x_train, &d.x_valid, &d.x_test};
  const Tensor* ys[] = {&d.y_train, &d.y_valid, &d.y_test};
  std::int64_t row = 0;
  for (int part = 0; part < 3; ++part)
    for (std::int64_t i = 0; i < xs[part]->size(0); ++i, ++row) {
      for (std::int64_t t = 0; t < 8; ++t)
        EXPECT_EQ(xs[part]->at({i, t, 0}), series.at({row, t, 0})) << part << " " << i << " " << t;
      EXPECT_EQ(ys[part]->at({i, 0}), series.at({row, 8, 0}));
    }
  EXPECT_EQ(row, 10);

  Generator c(9), e(9);
  Tensor series11 = generate_time_series(10, 11, c);
  ForecastData ten = ten_step_data(e, sizes);
  expect_shape(ten.y_train, {5, 3});
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t k = 0; k < 3; ++k) EXPECT_EQ(ten.y_test.at({i, k}), series11.at({8 + i, 8 + k, 0}));
}

TEST(ForecastData, Seq2SeqTargetsAreTheNextValuesAtEveryStep) {
  ForecastSizes sizes{.train = 4, .valid = 2, .test = 3, .steps = 6, .ahead = 4};
  Generator a(5), b(5), c(5);
  Tensor series = generate_time_series(9, 10, a);
  ForecastData d = seq2seq_data(b, sizes);
  ForecastData ten = ten_step_data(c, sizes);
  expect_shape(d.x_train, {4, 6, 1});
  expect_shape(d.y_train, {4, 6, 4});
  expect_shape(d.y_valid, {2, 6, 4});
  expect_shape(d.y_test, {3, 6, 4});
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t t = 0; t < 6; ++t) {
      EXPECT_EQ(d.x_valid.at({i, t, 0}), ten.x_valid.at({i, t, 0}));
      for (std::int64_t k = 1; k <= 4; ++k)
        EXPECT_EQ(d.y_valid.at({i, t, k - 1}), series.at({4 + i, t + k, 0})) << i << t << k;
    }
  // the last step's targets are the ten-step targets
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t k = 0; k < 4; ++k) EXPECT_EQ(d.y_test.at({i, 5, k}), ten.y_test.at({i, k}));
}

TEST(ForecastData, NotebookSeq2SeqShapes) {
  Generator rng(42);
  ForecastData d = seq2seq_data(rng);
  expect_shape(d.x_train, {7000, 50, 1});
  expect_shape(d.y_train, {7000, 50, 10});
  expect_shape(d.y_valid, {2000, 50, 10});
  expect_shape(d.y_test, {1000, 50, 10});
  // Y[:, t, k-1] = series[:, t+k]: the golden's value at [1234, 17] is Y_train[1234, 16, 0] and
  // Y_train[1234, 7, 9].
  double want = golden()["ten_step"]["values"][3]["value"].number;
  ASSERT_EQ(as_index(golden()["ten_step"]["values"][3]["index"]), (std::vector<std::int64_t>{1234, 17, 0}));
  EXPECT_EQ(d.y_train.at({1234, 16, 0}), want);
  EXPECT_EQ(d.y_train.at({1234, 7, 9}), want);
}

}  // namespace
}  // namespace tg

#include <tapegrad/data/series.h>

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

// numpy rounds the result of every array operation. Contracting `a * b + c` into one fused
// multiply-add (which GCC does by default in C++ on FMA machines) rounds once instead of twice
// and changes the last bit of the series; keep every product rounded on its own.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace tg {
namespace {

void check_size(const char* fn, const char* what, std::int64_t value, std::int64_t least) {
  if (value < least) throw ValueError(fmt::format("{}: {} must be at least {}, got {}", fn, what, least, value));
}

void check_sizes(const char* fn, const ForecastSizes& sizes, bool uses_ahead) {
  check_size(fn, "sizes.train", sizes.train, 1);
  check_size(fn, "sizes.valid", sizes.valid, 1);
  check_size(fn, "sizes.test", sizes.test, 1);
  check_size(fn, "sizes.steps", sizes.steps, 1);
  if (uses_ahead) check_size(fn, "sizes.ahead", sizes.ahead, 1);
}

/// Rows [begin, begin + count) of `src` [N, T] (float), columns [col, col + width), as a new
/// tensor of `shape`.
Tensor take(const float* src, std::int64_t row_len, std::int64_t begin, std::int64_t count, std::int64_t col,
            std::int64_t width, const Shape& shape) {
  Tensor out = Tensor::empty(shape, DType::f32);
  float* dst = out.data<float>();
  for (std::int64_t r = 0; r < count; ++r)
    for (std::int64_t c = 0; c < width; ++c) dst[r * width + c] = src[(begin + r) * row_len + col + c];
  return out;
}

/// Splits the rows of a series [N, T, 1] into the three sets: inputs are the first `steps`
/// values, targets come from `make_target(first_row, count)`.
template <class MakeTarget>
ForecastData split(const Tensor& series, const ForecastSizes& sizes, MakeTarget make_target) {
  const float* s = series.data<float>();
  const std::int64_t row_len = series.size(1);
  ForecastData d;
  auto inputs = [&](std::int64_t begin, std::int64_t count) {
    return take(s, row_len, begin, count, 0, sizes.steps, Shape{count, sizes.steps, 1});
  };
  const std::int64_t valid_begin = sizes.train, test_begin = sizes.train + sizes.valid;
  d.x_train = inputs(0, sizes.train);
  d.y_train = make_target(0, sizes.train);
  d.x_valid = inputs(valid_begin, sizes.valid);
  d.y_valid = make_target(valid_begin, sizes.valid);
  d.x_test = inputs(test_begin, sizes.test);
  d.y_test = make_target(test_begin, sizes.test);
  return d;
}

}  // namespace

Tensor generate_time_series(std::int64_t batch, std::int64_t steps, Generator& rng, DType dtype) {
  check_size("generate_time_series", "batch", batch, 1);
  check_size("generate_time_series", "steps", steps, 2);

  // freq1, freq2, offsets1, offsets2 = rand(4, batch, 1): all of freq1 first.
  std::vector<double> draws(static_cast<std::size_t>(4 * batch));
  for (double& v : draws) v = rng.uniform();
  const double* freq1 = draws.data();
  const double* freq2 = freq1 + batch;
  const double* offsets1 = freq2 + batch;
  const double* offsets2 = offsets1 + batch;

  // numpy's linspace(0, 1, steps): arange(steps) * step + 0, the last point set to exactly 1.
  std::vector<double> time(static_cast<std::size_t>(steps));
  const double step = 1.0 / static_cast<double>(steps - 1);
  for (std::int64_t j = 0; j < steps; ++j) time[static_cast<std::size_t>(j)] = static_cast<double>(j) * step;
  time.back() = 1.0;

  Tensor out = Tensor::empty(Shape{batch, steps, 1}, dtype);
  dispatch(dtype, [&]<class T>() {
    T* p = out.data<T>();
    for (std::int64_t b = 0; b < batch; ++b) {
      const double speed1 = freq1[b] * 10.0 + 10.0;
      const double speed2 = freq2[b] * 20.0 + 20.0;
      for (std::int64_t j = 0; j < steps; ++j) {
        const double t = time[static_cast<std::size_t>(j)];
        double s = 0.5 * std::sin((t - offsets1[b]) * speed1);
        s += 0.2 * std::sin((t - offsets2[b]) * speed2);
        s += 0.1 * (rng.uniform() - 0.5);      // the noise, rand(batch, steps), drawn row-major
        p[b * steps + j] = static_cast<T>(s);  // round to nearest even, as numpy's astype
      }
    }
  });
  return out;
}

ForecastData one_step_data(Generator& rng, const ForecastSizes& sizes) {
  check_sizes("one_step_data", sizes, false);
  const std::int64_t row_len = sizes.steps + 1;
  Tensor series = generate_time_series(sizes.total(), row_len, rng);
  const float* s = series.data<float>();
  return split(series, sizes, [&](std::int64_t begin, std::int64_t count) {
    return take(s, row_len, begin, count, sizes.steps, 1, Shape{count, 1});
  });
}

ForecastData ten_step_data(Generator& rng, const ForecastSizes& sizes) {
  check_sizes("ten_step_data", sizes, true);
  const std::int64_t row_len = sizes.steps + sizes.ahead;
  Tensor series = generate_time_series(sizes.total(), row_len, rng);
  const float* s = series.data<float>();
  return split(series, sizes, [&](std::int64_t begin, std::int64_t count) {
    return take(s, row_len, begin, count, sizes.steps, sizes.ahead, Shape{count, sizes.ahead});
  });
}

ForecastData seq2seq_data(Generator& rng, const ForecastSizes& sizes) {
  check_sizes("seq2seq_data", sizes, true);
  const std::int64_t steps = sizes.steps, ahead = sizes.ahead, row_len = steps + ahead;
  Tensor series = generate_time_series(sizes.total(), row_len, rng);
  const float* s = series.data<float>();
  return split(series, sizes, [&](std::int64_t begin, std::int64_t count) {
    Tensor y = Tensor::empty(Shape{count, steps, ahead}, DType::f32);
    float* dst = y.data<float>();
    for (std::int64_t r = 0; r < count; ++r) {
      const float* row = s + (begin + r) * row_len;
      for (std::int64_t t = 0; t < steps; ++t)
        for (std::int64_t k = 1; k <= ahead; ++k) *dst++ = row[t + k];
    }
    return y;
  });
}

}  // namespace tg

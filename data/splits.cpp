#include <tapegrad/data/splits.h>

#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tg {
namespace {

void check_length(const char* fn, std::int64_t length) {
  if (length < 2) throw ValueError(fmt::format("{}: expected a series of at least 2 steps, got {}", fn, length));
}

TimeSplit consecutive(std::int64_t first, std::int64_t train, std::int64_t valid, std::int64_t test) {
  TimeSplit s;
  s.train = {first, first + train};
  s.valid = {s.train.end, s.train.end + valid};
  s.test = {s.valid.end, s.valid.end + test};
  return s;
}

void check_parts(const char* fn, std::int64_t length, std::int64_t train, std::int64_t test) {
  if (train < 1 || test < 1)
    throw ValueError(
        fmt::format("{}: expected at least one step in the train and the test parts of {} steps, got {} "
                    "and {}",
                    fn, length, train, test));
}

}  // namespace

TimeSplit split_by_fractions(std::int64_t length, double train, double valid, double test) {
  constexpr const char* fn = "split_by_fractions";
  check_length(fn, length);
  for (const auto& [name, f] : {std::pair{"train", train}, std::pair{"valid", valid}, std::pair{"test", test}})
    if (!(f >= 0.0 && f <= 1.0))
      throw ValueError(fmt::format("{}: expected the {} fraction in [0, 1], got {}", fn, name, f));
  const double sum = train + valid + test;
  if (sum > 1.0 + 1e-9)
    throw ValueError(
        fmt::format("{}: expected fractions summing to at most 1, got {} + {} + {} = {}", fn, train, valid, test, sum));
  const double l = static_cast<double>(length);
  const auto n_train = static_cast<std::int64_t>(std::floor(train * l));
  const auto n_valid = static_cast<std::int64_t>(std::floor(valid * l));
  const std::int64_t n_test =
      std::abs(sum - 1.0) <= 1e-9 ? length - n_train - n_valid : static_cast<std::int64_t>(std::floor(test * l));
  check_parts(fn, length, n_train, n_test);
  return consecutive(0, n_train, n_valid, n_test);
}

TimeSplit split_by_counts(std::int64_t length, std::int64_t train, std::int64_t valid, std::int64_t test) {
  constexpr const char* fn = "split_by_counts";
  check_length(fn, length);
  if (valid < 0) throw ValueError(fmt::format("{}: expected a validation count of at least 0, got {}", fn, valid));
  check_parts(fn, length, train, test);
  std::int64_t total = 0;
  if (__builtin_add_overflow(train, valid, &total) || __builtin_add_overflow(total, test, &total) || total > length)
    throw ValueError(
        fmt::format("{}: {} + {} + {} steps asked for, but the series has {}", fn, train, valid, test, length));
  return consecutive(length - total, train, valid, test);
}

SplitWindows split_windows(const Tensor& series, const WindowOptions& options, const TimeSplit& split,
                           WindowContext context) {
  auto part = [&](const char* name, TimeRange range) {
    try {
      return WindowSet::for_targets_in(series, options, range, context);
    } catch (const ValueError& e) {
      throw ValueError(fmt::format("split_windows: {} part [{}, {}): {}", name, range.begin, range.end, e.what()));
    }
  };
  SplitWindows w;
  w.train = part("train", split.train);
  if (split.valid.size() > 0) w.valid = part("validation", split.valid);
  w.test = part("test", split.test);
  return w;
}

std::vector<BacktestFold> rolling_origins(std::int64_t length, const BacktestOptions& o) {
  constexpr const char* fn = "rolling_origins";
  const std::int64_t step = o.step == 0 ? o.horizon : o.step;
  for (const auto& [name, v] : {std::pair{"folds", o.folds}, std::pair{"horizon", o.horizon}, std::pair{"step", step},
                                std::pair{"min_train", o.min_train}})
    if (v < 1) throw ValueError(fmt::format("{}: expected {} of at least 1, got {}", fn, name, v));
  if (o.max_train < 0)
    throw ValueError(fmt::format("{}: expected max_train >= 0 (0: no limit), got {}", fn, o.max_train));
  // min_train + (K - 1) * step + H, checked.
  std::int64_t needed = 0;
  const bool overflow = __builtin_mul_overflow(o.folds - 1, step, &needed) ||
                        __builtin_add_overflow(needed, o.min_train, &needed) ||
                        __builtin_add_overflow(needed, o.horizon, &needed);
  if (overflow || needed > length)
    throw ValueError(
        fmt::format("{}: {} folds of horizon {}, {} steps apart, after at least {} training steps need a "
                    "series of {} steps, got {}",
                    fn, o.folds, o.horizon, step, o.min_train,
                    overflow ? std::string("more than 2^63") : fmt::format("{}", needed), length));
  std::vector<BacktestFold> folds;
  for (std::int64_t k = 0; k < o.folds; ++k) {
    const std::int64_t origin = length - o.horizon - (o.folds - 1 - k) * step;
    const std::int64_t first = o.max_train > 0 && origin > o.max_train ? origin - o.max_train : 0;
    folds.push_back({{first, origin}, {origin, origin + o.horizon}});
  }
  return folds;
}

}  // namespace tg

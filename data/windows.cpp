#include <tapegrad/data/windows.h>

#include <algorithm>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tg {
namespace {

void check_at_least(const char* what, std::int64_t value, std::int64_t least) {
  if (value < least) throw ValueError(fmt::format("WindowSet: {} must be at least {}, got {}", what, least, value));
}

Tensor as_matrix(const Tensor& series) {
  if (!series.defined()) throw ValueError("WindowSet: expected a series [L, F], got an undefined tensor");
  if (series.rank() == 1) return series.view(Shape{series.size(0), 1});
  if (series.rank() != 2)
    throw ShapeError(fmt::format("WindowSet: expected a series [L, F] or [L], got {}", series.shape().str()));
  return series;
}

template <class T>
void copy_windows(const T* s, std::int64_t width, const std::vector<std::int64_t>& inputs, const WindowOptions& o,
                  const WindowSet& set, std::span<const std::int64_t> rows, T* x, T* y) {
  const std::int64_t len = o.length, h = o.horizon, r = o.sampling_rate, target = o.target_column;
  const std::int64_t f = static_cast<std::int64_t>(inputs.size());
  for (const std::int64_t n : rows) {
    const std::int64_t s0 = set.start(n);
    for (std::int64_t t = 0; t < len; ++t) {
      const T* step = s + (s0 + t * r) * width;
      for (std::int64_t j = 0; j < f; ++j) *x++ = step[inputs[static_cast<std::size_t>(j)]];
    }
    if (o.sequence_targets) {
      for (std::int64_t t = 0; t < len; ++t)
        for (std::int64_t k = 1; k <= h; ++k) *y++ = s[(s0 + (t + k) * r) * width + target];
    } else {
      const std::int64_t last = s0 + (len - 1) * r;
      for (std::int64_t k = 1; k <= h; ++k) *y++ = s[(last + k * r) * width + target];
    }
  }
}

}  // namespace

WindowSet::WindowSet(Tensor series, WindowOptions options, TimeRange range)
    : series_(as_matrix(series)), options_(std::move(options)) {
  const WindowOptions& o = options_;
  check_at_least("length", o.length, 1);
  check_at_least("horizon", o.horizon, 1);
  check_at_least("stride", o.stride, 1);
  check_at_least("sampling_rate", o.sampling_rate, 1);
  const std::int64_t steps = series_.size(0), width = series_.size(1);
  auto check_column = [&](const char* what, std::int64_t c) {
    if (c < 0 || c >= width)
      throw ValueError(
          fmt::format("WindowSet: {} {} is outside the series' {} column{}", what, c, width, width == 1 ? "" : "s"));
  };
  check_column("target_column", o.target_column);
  for (std::int64_t c : o.input_columns) check_column("input column", c);
  inputs_ = o.input_columns;
  if (inputs_.empty())
    for (std::int64_t c = 0; c < width; ++c) inputs_.push_back(c);

  if (range.end < 0) range.end = steps;
  if (range.begin < 0 || range.begin > range.end || range.end > steps)
    throw ValueError(
        fmt::format("WindowSet: range [{}, {}) is not inside the series' {} steps", range.begin, range.end, steps));
  // (T - 1 + H) * r + 1, checked: a span past int64 fits in no series.
  std::int64_t span = 0;
  if (__builtin_add_overflow(o.length - 1, o.horizon, &span) || __builtin_mul_overflow(span, o.sampling_rate, &span))
    span = INT64_MAX - 1;
  ++span;
  if (range.size() < span)
    throw ValueError(fmt::format(
        "WindowSet: a window of {} steps, horizon {} and sampling rate {} spans {} steps of the series, but the range "
        "[{}, {}) has only {}",
        o.length, o.horizon, o.sampling_rate, span, range.begin, range.end, range.size()));
  begin_ = range.begin;
  count_ = (range.size() - span) / o.stride + 1;
}

WindowSet WindowSet::for_targets_in(Tensor series, WindowOptions options, TimeRange part, WindowContext context) {
  const Tensor s = as_matrix(series);
  if (part.end < 0) part.end = s.size(0);
  if (part.begin < 0 || part.begin > part.end || part.end > s.size(0))
    throw ValueError(
        fmt::format("WindowSet: part [{}, {}) is not inside the series' {} steps", part.begin, part.end, s.size(0)));
  TimeRange range = part;
  if (context == WindowContext::past) {
    check_at_least("length", options.length, 1);
    check_at_least("sampling_rate", options.sampling_rate, 1);
    std::int64_t back = 0;
    if (__builtin_mul_overflow(options.sequence_targets ? 1 : options.length, options.sampling_rate, &back))
      back = INT64_MAX;
    range.begin = part.begin > back ? part.begin - back : 0;
  }
  return WindowSet(s, std::move(options), range);
}

std::int64_t WindowSet::start(std::int64_t n) const {
  if (n < 0 || n >= count_)
    throw ValueError(fmt::format("WindowSet: window {} asked for, but there are {} (0 to {})", n, count_, count_ - 1));
  return begin_ + n * options_.stride;
}

TimeRange WindowSet::extent() const {
  if (count_ == 0) return {};
  return {begin_, start(count_ - 1) + options_.span()};
}

Shape WindowSet::input_shape(std::int64_t n) const { return Shape{n, options_.length, features()}; }

Shape WindowSet::target_shape(std::int64_t n) const {
  return options_.sequence_targets ? Shape{n, options_.length, options_.horizon} : Shape{n, options_.horizon};
}

void WindowSet::gather(std::span<const std::int64_t> rows, Tensor& x, Tensor& y) const {
  if (count_ == 0) throw ValueError("WindowSet: gather from an empty set");
  for (const std::int64_t n : rows)
    if (n < 0 || n >= count_)
      throw ValueError(
          fmt::format("WindowSet: window {} asked for, but there are {} (0 to {})", n, count_, count_ - 1));
  const std::int64_t n = static_cast<std::int64_t>(rows.size());
  const DType dtype = series_.dtype();
  const Shape xs = input_shape(n), ys = target_shape(n);
  if (!x.defined() || x.shape() != xs || x.dtype() != dtype) x = Tensor::empty(xs, dtype, "WindowSet::gather");
  if (!y.defined() || y.shape() != ys || y.dtype() != dtype) y = Tensor::empty(ys, dtype, "WindowSet::gather");
  const std::int64_t width = series_.size(1);
  if (dtype == DType::f32)
    copy_windows(series_.data<float>(), width, inputs_, options_, *this, rows, x.data<float>(), y.data<float>());
  else
    copy_windows(series_.data<double>(), width, inputs_, options_, *this, rows, x.data<double>(), y.data<double>());
}

std::pair<Tensor, Tensor> WindowSet::gather(std::span<const std::int64_t> rows) const {
  Tensor x, y;
  gather(rows, x, y);
  return {x, y};
}

std::pair<Tensor, Tensor> WindowSet::materialise() const {
  std::vector<std::int64_t> all(static_cast<std::size_t>(count_));
  for (std::int64_t n = 0; n < count_; ++n) all[static_cast<std::size_t>(n)] = n;
  return gather(all);
}

}  // namespace tg

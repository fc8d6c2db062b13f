#include <tapegrad/data/transforms.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tg {
namespace {

using Columns = std::vector<std::vector<double>>;

/// The columns of `t` ([L, F] or [L]), checked finite.
Columns to_columns(const Tensor& t, const std::string& who, const char* what) {
  if (!t.defined()) throw ValueError(fmt::format("{}: expected {} [L, F] or [L], got an undefined tensor", who, what));
  if (t.rank() != 1 && t.rank() != 2)
    throw ShapeError(fmt::format("{}: expected {} [L, F] or [L], got {}", who, what, t.shape().str()));
  const std::int64_t rows = t.size(0), cols = t.rank() == 2 ? t.size(1) : 1;
  const std::vector<double> v = t.to_vector();
  Columns c(static_cast<std::size_t>(cols), std::vector<double>(static_cast<std::size_t>(rows)));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) {
      const double x = v[static_cast<std::size_t>(r * cols + j)];
      if (!std::isfinite(x))
        throw ValueError(fmt::format("{}: {} step {}, column {}: expected a finite value, got {}", who, what, r, j, x));
      c[static_cast<std::size_t>(j)][static_cast<std::size_t>(r)] = x;
    }
  return c;
}

void check_fitted(const Transform& t, const char* fn) {
  if (t.fitted_columns() < 0) throw ValueError(fmt::format("{}: {} before fit", t.name(), fn));
}

void check_column(const Transform& t, std::int64_t column) {
  const std::int64_t n = t.fitted_columns();
  if (column < 0 || column >= n)
    throw ValueError(fmt::format("{}: column {} asked for, but it was fitted on {} column{}", t.name(), column, n,
                                 n == 1 ? "" : "s"));
}

/// Per-column parameters, for transforms that learn some.
template <class F>
void fit_each(const Columns& columns, F&& fit_one) {
  for (std::size_t c = 0; c < columns.size(); ++c) fit_one(c, columns[c]);
}

}  // namespace

void Transform::fit(const Tensor& train) {
  const Columns c = to_columns(train, name() + ": fit", "the training part");
  if (c.empty() || c[0].empty())
    throw ValueError(
        fmt::format("{}: fit: expected at least one step and one column, got {}", name(), train.shape().str()));
  fit_columns(c);
}

Tensor Transform::apply(const Tensor& series) const {
  check_fitted(*this, "apply");
  const Columns c = to_columns(series, name() + ": apply", "the series");
  if (static_cast<std::int64_t>(c.size()) != fitted_columns())
    throw ShapeError(fmt::format("{}: apply: expected {} column{} (as fitted), got {}", name(), fitted_columns(),
                                 fitted_columns() == 1 ? "" : "s", series.shape().str()));
  const std::int64_t rows = series.size(0), cols = static_cast<std::int64_t>(c.size());
  if (rows <= lag())
    throw ValueError(fmt::format("{}: apply: expected more than {} steps (the lag), got {}", name(), lag(), rows));
  const std::int64_t out_rows = rows - lag();
  std::vector<double> out(static_cast<std::size_t>(out_rows * cols));
  for (std::int64_t j = 0; j < cols; ++j) {
    const std::vector<double> y = forward(c[static_cast<std::size_t>(j)], j);
    for (std::int64_t r = 0; r < out_rows; ++r)
      out[static_cast<std::size_t>(r * cols + j)] = y[static_cast<std::size_t>(r)];
  }
  return from_vector(out, series.rank() == 1 ? Shape{out_rows} : Shape{out_rows, cols}, series.dtype());
}

Tensor Transform::fit_apply(const Tensor& train) {
  fit(train);
  return apply(train);
}

Tensor Transform::inverse(const Tensor& forecast, const Tensor& history, std::int64_t column) const {
  check_fitted(*this, "inverse");
  check_column(*this, column);
  if (!forecast.defined() || !history.defined())
    throw ValueError(fmt::format("{}: inverse: expected a forecast and a history, got an undefined tensor", name()));
  if ((forecast.rank() != 1 && forecast.rank() != 2) || history.rank() != forecast.rank() ||
      (forecast.rank() == 2 && history.size(0) != forecast.size(0)))
    throw ShapeError(
        fmt::format("{}: inverse: expected a forecast [H] with a history [K], or [N, H] with [N, K], got "
                    "{} and {}",
                    name(), forecast.shape().str(), history.shape().str()));
  const int rank = forecast.rank();
  const std::int64_t n = rank == 2 ? forecast.size(0) : 1, h = forecast.size(-1), k = history.size(-1);
  if (k < lag())
    throw ValueError(
        fmt::format("{}: inverse: expected a history of at least {} steps (the lag), got {}", name(), lag(), k));
  std::vector<double> f = forecast.to_vector();
  const std::vector<double> past = history.to_vector();
  for (std::size_t i = 0; i < f.size(); ++i)
    if (!std::isfinite(f[i]))
      throw ValueError(fmt::format("{}: inverse: forecast value {} is {}: expected a finite value", name(), i, f[i]));
  for (std::size_t i = 0; i < past.size(); ++i)
    if (!std::isfinite(past[i]))
      throw ValueError(fmt::format("{}: inverse: history value {} is {}: expected a finite value", name(), i, past[i]));
  for (std::int64_t r = 0; r < n; ++r)
    inverse_in_place(
        std::span<double>(f).subspan(static_cast<std::size_t>(r * h), static_cast<std::size_t>(h)),
        std::span<const double>(past).subspan(static_cast<std::size_t>(r * k), static_cast<std::size_t>(k)), column);
  return from_vector(f, forecast.shape(), forecast.dtype());
}

// ---- StandardScale ---------------------------------------------------------------------------

void StandardScale::fit_columns(const Columns& columns) {
  std::vector<double> mean(columns.size()), deviation(columns.size());
  fit_each(columns, [&](std::size_t c, const std::vector<double>& x) {
    const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    if (*lo == *hi)
      throw ValueError(
          fmt::format("standard_scale: column {} is constant in the training part (every one of its {} "
                      "values is {}): its deviation is 0, so it cannot be scaled",
                      c, x.size(), *lo));
    double sum = 0.0;
    for (double v : x) sum += v;
    const double m = sum / static_cast<double>(x.size());
    double sq = 0.0;
    for (double v : x) sq += (v - m) * (v - m);
    const double d = std::sqrt(sq / static_cast<double>(x.size()));
    if (!(d > 0.0) || !std::isfinite(d))
      throw ValueError(fmt::format("standard_scale: column {}: expected a positive finite deviation, got {}", c, d));
    mean[c] = m;
    deviation[c] = d;
  });
  mean_ = std::move(mean);
  deviation_ = std::move(deviation);
  fitted_ = true;
}

std::vector<double> StandardScale::forward(std::span<const double> x, std::int64_t column) const {
  check_column(*this, column);
  const double m = mean_[static_cast<std::size_t>(column)], d = deviation_[static_cast<std::size_t>(column)];
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - m) / d;
  return y;
}

void StandardScale::inverse_in_place(std::span<double> values, std::span<const double>, std::int64_t column) const {
  check_column(*this, column);
  const double m = mean_[static_cast<std::size_t>(column)], d = deviation_[static_cast<std::size_t>(column)];
  for (double& v : values) v = v * d + m;
}

// ---- MinMaxScale -----------------------------------------------------------------------------

MinMaxScale::MinMaxScale(double low, double high) : low_(low), high_(high) {
  if (!(low < high) || !std::isfinite(low) || !std::isfinite(high))
    throw ValueError(fmt::format("min_max_scale: expected finite low < high, got [{}, {}]", low, high));
}

void MinMaxScale::fit_columns(const Columns& columns) {
  std::vector<double> lo(columns.size()), hi(columns.size());
  fit_each(columns, [&](std::size_t c, const std::vector<double>& x) {
    const auto [a, b] = std::minmax_element(x.begin(), x.end());
    if (*a == *b)
      throw ValueError(
          fmt::format("min_max_scale: column {} is constant in the training part (every one of its {} "
                      "values is {}): its range is 0, so it cannot be scaled",
                      c, x.size(), *a));
    if (!std::isfinite(*b - *a))
      throw ValueError(fmt::format("min_max_scale: column {}: the range [{}, {}] overflows", c, *a, *b));
    lo[c] = *a;
    hi[c] = *b;
  });
  min_ = std::move(lo);
  max_ = std::move(hi);
  fitted_ = true;
}

std::vector<double> MinMaxScale::forward(std::span<const double> x, std::int64_t column) const {
  check_column(*this, column);
  const double a = min_[static_cast<std::size_t>(column)], b = max_[static_cast<std::size_t>(column)];
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = low_ + (x[i] - a) / (b - a) * (high_ - low_);
  return y;
}

void MinMaxScale::inverse_in_place(std::span<double> values, std::span<const double>, std::int64_t column) const {
  check_column(*this, column);
  const double a = min_[static_cast<std::size_t>(column)], b = max_[static_cast<std::size_t>(column)];
  for (double& v : values) v = a + (v - low_) / (high_ - low_) * (b - a);
}

// ---- Difference ------------------------------------------------------------------------------

Difference::Difference(std::int64_t lag) : lag_(lag) {
  if (lag < 1) throw ValueError(fmt::format("difference: expected a lag of at least 1, got {}", lag));
}

std::string Difference::name() const { return fmt::format("difference({})", lag_); }

void Difference::fit_columns(const Columns& columns) {
  const std::size_t rows = columns.empty() ? 0 : columns[0].size();
  if (static_cast<std::int64_t>(rows) <= lag_)
    throw ValueError(
        fmt::format("{}: expected a training part of more than {} steps (the lag), got {}", name(), lag_, rows));
  columns_ = static_cast<std::int64_t>(columns.size());
}

std::vector<double> Difference::forward(std::span<const double> x, std::int64_t column) const {
  check_column(*this, column);
  const auto lag = static_cast<std::size_t>(lag_);
  if (x.size() <= lag)
    throw ValueError(fmt::format("{}: expected more than {} steps (the lag), got {}", name(), lag_, x.size()));
  std::vector<double> y(x.size() - lag);
  for (std::size_t t = lag; t < x.size(); ++t) y[t - lag] = x[t] - x[t - lag];
  return y;
}

void Difference::inverse_in_place(std::span<double> values, std::span<const double> history,
                                  std::int64_t column) const {
  check_column(*this, column);
  const auto lag = static_cast<std::size_t>(lag_);
  if (history.size() < lag)
    throw ValueError(
        fmt::format("{}: inverse: expected a history of at least {} steps, got {}", name(), lag_, history.size()));
  // y[t] = d[t] + y[t - S], where y[t - S] is history for t < S and an undone value after.
  for (std::size_t t = 0; t < values.size(); ++t)
    values[t] += t < lag ? history[history.size() - lag + t] : values[t - lag];
}

// ---- Log -------------------------------------------------------------------------------------

namespace {
void check_positive(std::span<const double> x, std::int64_t column, const char* what) {
  for (std::size_t t = 0; t < x.size(); ++t)
    if (!(x[t] > 0.0))
      throw ValueError(
          fmt::format("log: {} step {}, column {}: expected a positive value, got {} (take log of "
                      "positive series only, or shift it first)",
                      what, t, column, x[t]));
}
}  // namespace

void Log::fit_columns(const Columns& columns) {
  for (std::size_t c = 0; c < columns.size(); ++c)
    check_positive(columns[c], static_cast<std::int64_t>(c), "training part");
  columns_ = static_cast<std::int64_t>(columns.size());
}

std::vector<double> Log::forward(std::span<const double> x, std::int64_t column) const {
  check_column(*this, column);
  check_positive(x, column, "series");
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = std::log(x[i]);
  return y;
}

void Log::inverse_in_place(std::span<double> values, std::span<const double>, std::int64_t column) const {
  check_column(*this, column);
  for (double& v : values) v = std::exp(v);
}

// ---- Pipeline --------------------------------------------------------------------------------

Pipeline::Pipeline(const Pipeline& other) : fitted_(other.fitted_), columns_(other.columns_) {
  for (const auto& s : other.stages_) stages_.push_back(s->clone());
}

Pipeline& Pipeline::operator=(const Pipeline& other) {
  if (this != &other) {
    Pipeline copy(other);
    *this = std::move(copy);
  }
  return *this;
}

std::string Pipeline::name() const {
  std::string n = "pipeline(";
  for (std::size_t i = 0; i < stages_.size(); ++i) n += (i ? ", " : "") + stages_[i]->name();
  return n + ")";
}

std::int64_t Pipeline::lag() const {
  std::int64_t l = 0;
  for (const auto& s : stages_) l += s->lag();
  return l;
}

std::int64_t Pipeline::fitted_columns() const { return fitted_ ? columns_ : -1; }

void Pipeline::fit_columns(const Columns& columns) {
  fitted_ = false;
  Columns current = columns;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    Transform& s = *stages_[i];
    s.fit_columns(current);
    if (i + 1 == stages_.size()) break;
    for (std::size_t c = 0; c < current.size(); ++c) current[c] = s.forward(current[c], static_cast<std::int64_t>(c));
  }
  columns_ = static_cast<std::int64_t>(columns.size());
  fitted_ = true;
}

std::vector<double> Pipeline::forward(std::span<const double> x, std::int64_t column) const {
  check_column(*this, column);
  std::vector<double> y(x.begin(), x.end());
  for (const auto& s : stages_) y = s->forward(y, column);
  return y;
}

void Pipeline::inverse_in_place(std::span<double> values, std::span<const double> history, std::int64_t column) const {
  check_column(*this, column);
  if (static_cast<std::int64_t>(history.size()) < lag())
    throw ValueError(
        fmt::format("{}: inverse: expected a history of at least {} steps, got {}", name(), lag(), history.size()));
  // The history in each stage's input space: histories[i] goes into stage i. It is run forward
  // only as far as a later stage needs one.
  std::vector<std::int64_t> lag_after(stages_.size() + 1, 0);
  for (std::size_t i = stages_.size(); i-- > 0;) lag_after[i] = lag_after[i + 1] + stages_[i]->lag();
  std::vector<std::vector<double>> histories(stages_.size());
  std::vector<double> h(history.begin(), history.end());
  for (std::size_t i = 0; i < stages_.size() && lag_after[i] > 0; ++i) {
    histories[i] = h;
    if (lag_after[i + 1] > 0) h = stages_[i]->forward(h, column);
  }
  for (std::size_t i = stages_.size(); i-- > 0;) stages_[i]->inverse_in_place(values, histories[i], column);
}

}  // namespace tg

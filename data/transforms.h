#pragma once
/// \file
/// Invertible transforms of a series [L, F], fitted on the training part only: standard scaling,
/// min-max scaling, differencing (lag 1 or a seasonal lag S), log, and a Pipeline of them.
///
///     Pipeline prep(Log(), Difference(12), StandardScale());
///     prep.fit(train);                      // [L_train, F]: parameters from the training part
///     Tensor z = prep.apply(series);        // [L - 12, F]: row j is the series' step j + 12
///     ... a model forecasts zhat [N, H] of column 0 ...
///     Tensor yhat = prep.inverse(zhat, history, 0);  // [N, H] in the series' units
///
/// `inverse` turns a forecast of H steps back into the series' units. Differencing needs the last
/// observed values for that, so every forecast comes with its history: the series' own values of
/// that column right before the forecast's first step, at least lag() of them (the last ones are
/// used). A Pipeline runs the history forward through its stages to give each stage's inverse the
/// history in its own input space, so only the raw values are ever asked for. A forecast longer
/// than the lag continues from its own values: y[t] = d[t] + y[t - S].
///
/// Every transform works column by column, in float64, and gives back the dtype it was given.
/// Non-finite values are refused (ValueError naming the step and the column), as are a constant
/// column for the scalings (a deviation or range of 0 would divide by 0) and values <= 0 for log.

#include <tapegrad/core/config.h>

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

/// An invertible transform of a series, fitted on its training part (see the file's
/// documentation). A new transform implements the column interface (the virtual functions).
class Transform {
 public:
  virtual ~Transform() = default;

  /// Learns the parameters from the training part, [L, F] or [L].
  void fit(const Tensor& train);
  /// The transformed series, [L - lag(), F] (or [L - lag()]). ShapeError when F is not the
  /// fitted one; ValueError before fit or for values the transform refuses.
  Tensor apply(const Tensor& series) const;
  /// fit(train), then apply(train).
  Tensor fit_apply(const Tensor& train);
  /// `forecast` [H] or [N, H] of column `column`, in the transformed space, back in the series'
  /// units. `history` is [K] or [N, K] (one row per forecast, K >= lag()): the series' values of
  /// that column right before each forecast's first step. Same shape and dtype as `forecast`.
  Tensor inverse(const Tensor& forecast, const Tensor& history, std::int64_t column = 0) const;

  /// The name in messages ("standard_scale", "difference(12)", ...).
  virtual std::string name() const = 0;
  /// A copy, fitted or not as this one is.
  virtual std::unique_ptr<Transform> clone() const = 0;
  /// Steps apply drops at the start, and steps of history inverse needs.
  virtual std::int64_t lag() const { return 0; }
  /// Columns seen by fit; -1 before.
  virtual std::int64_t fitted_columns() const = 0;
  /// Learns from the training part, one vector per column (all of one length).
  virtual void fit_columns(const std::vector<std::vector<double>>& columns) = 0;
  /// Column `column` transformed: x.size() - lag() values.
  virtual std::vector<double> forward(std::span<const double> x, std::int64_t column) const = 0;
  /// Undoes forward on `values` in place; `history` holds at least lag() values of this
  /// transform's input right before values[0].
  virtual void inverse_in_place(std::span<double> values, std::span<const double> history,
                                std::int64_t column) const = 0;
};

/// (x - mean) / deviation per column, with the training part's mean and population deviation
/// (Keras' Normalization, scikit-learn's StandardScaler). ValueError for a constant column.
class StandardScale : public Transform {
 public:
  /// The per-column means (empty before fit).
  const std::vector<double>& mean() const { return mean_; }
  /// The per-column deviations (empty before fit).
  const std::vector<double>& deviation() const { return deviation_; }

  std::string name() const override { return "standard_scale"; }
  std::unique_ptr<Transform> clone() const override { return std::make_unique<StandardScale>(*this); }
  std::int64_t fitted_columns() const override { return fitted_ ? static_cast<std::int64_t>(mean_.size()) : -1; }
  void fit_columns(const std::vector<std::vector<double>>& columns) override;
  std::vector<double> forward(std::span<const double> x, std::int64_t column) const override;
  void inverse_in_place(std::span<double> values, std::span<const double> history, std::int64_t column) const override;

 private:
  std::vector<double> mean_, deviation_;
  bool fitted_ = false;
};

/// Maps each column's training range [min, max] onto [low, high] (default [0, 1]).
/// ValueError for a constant column or low >= high.
class MinMaxScale : public Transform {
 public:
  /// Onto [low, high].
  explicit MinMaxScale(double low = 0.0, double high = 1.0);
  /// The per-column minima of the training part (empty before fit).
  const std::vector<double>& min() const { return min_; }
  /// The per-column maxima of the training part (empty before fit).
  const std::vector<double>& max() const { return max_; }

  std::string name() const override { return "min_max_scale"; }
  std::unique_ptr<Transform> clone() const override { return std::make_unique<MinMaxScale>(*this); }
  std::int64_t fitted_columns() const override { return fitted_ ? static_cast<std::int64_t>(min_.size()) : -1; }
  void fit_columns(const std::vector<std::vector<double>>& columns) override;
  std::vector<double> forward(std::span<const double> x, std::int64_t column) const override;
  void inverse_in_place(std::span<double> values, std::span<const double> history, std::int64_t column) const override;

 private:
  double low_, high_;
  std::vector<double> min_, max_;
  bool fitted_ = false;
};

/// x[t] - x[t - S]: lag 1 removes a trend, a seasonal lag S (12 for monthly data) a season.
/// Learns nothing but checks the training part is longer than S.
class Difference : public Transform {
 public:
  /// Differences at lag `lag` (>= 1, else ValueError).
  explicit Difference(std::int64_t lag = 1);

  std::string name() const override;
  std::unique_ptr<Transform> clone() const override { return std::make_unique<Difference>(*this); }
  std::int64_t lag() const override { return lag_; }
  std::int64_t fitted_columns() const override { return columns_; }
  void fit_columns(const std::vector<std::vector<double>>& columns) override;
  std::vector<double> forward(std::span<const double> x, std::int64_t column) const override;
  void inverse_in_place(std::span<double> values, std::span<const double> history, std::int64_t column) const override;

 private:
  std::int64_t lag_;
  std::int64_t columns_ = -1;
};

/// The natural logarithm; its inverse is exp. ValueError for a value <= 0 (in the training part,
/// the series or a history), naming the step, the column and the value.
class Log : public Transform {
 public:
  std::string name() const override { return "log"; }
  std::unique_ptr<Transform> clone() const override { return std::make_unique<Log>(*this); }
  std::int64_t fitted_columns() const override { return columns_; }
  void fit_columns(const std::vector<std::vector<double>>& columns) override;
  std::vector<double> forward(std::span<const double> x, std::int64_t column) const override;
  void inverse_in_place(std::span<double> values, std::span<const double> history, std::int64_t column) const override;

 private:
  std::int64_t columns_ = -1;
};

/// Transforms applied in order: fit fits each stage on the output of the ones before; inverse
/// undoes them in reverse order; lag() is the sum of the stages' lags.
class Pipeline : public Transform {
 public:
  /// No stage (the identity).
  Pipeline() = default;
  /// The stages, in order: `Pipeline(Log(), Difference(12), StandardScale())`.
  template <class... Ts>
  requires(sizeof...(Ts) > 0 && (std::derived_from<std::remove_cvref_t<Ts>, Transform> && ...) &&
           (!std::same_as<std::remove_cvref_t<Ts>, Pipeline> && ...)) explicit Pipeline(Ts&&... stages) {
    (add(std::forward<Ts>(stages)), ...);
  }
  /// Deep copies.
  /// @{
  Pipeline(const Pipeline& other);
  Pipeline& operator=(const Pipeline& other);
  Pipeline(Pipeline&&) noexcept = default;
  Pipeline& operator=(Pipeline&&) noexcept = default;
  /// @}

  /// Appends a stage (a copy of `stage`); the pipeline must be fitted again.
  template <class T>
  requires std::derived_from<std::remove_cvref_t<T>, Transform> Pipeline& add(T&& stage) {
    stages_.push_back(std::make_unique<std::remove_cvref_t<T>>(std::forward<T>(stage)));
    fitted_ = false;
    return *this;
  }
  /// Number of stages.
  std::size_t size() const { return stages_.size(); }
  /// Stage i.
  const Transform& stage(std::size_t i) const { return *stages_.at(i); }

  std::string name() const override;
  std::unique_ptr<Transform> clone() const override { return std::make_unique<Pipeline>(*this); }
  std::int64_t lag() const override;
  std::int64_t fitted_columns() const override;
  void fit_columns(const std::vector<std::vector<double>>& columns) override;
  std::vector<double> forward(std::span<const double> x, std::int64_t column) const override;
  void inverse_in_place(std::span<double> values, std::span<const double> history, std::int64_t column) const override;

 private:
  std::vector<std::unique_ptr<Transform>> stages_;
  bool fitted_ = false;
  std::int64_t columns_ = -1;
};

}  // namespace tg

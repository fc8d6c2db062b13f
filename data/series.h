#pragma once
/// \file
/// The synthetic time series of Géron's *Hands-On Machine Learning*, ch. 15, and the notebook's
/// forecasting datasets built from them. With a generator seeded 42 (`Generator rng(42)`, the
/// notebook's `np.random.seed(42)`), every value equals the notebook's bit for bit.

#include <tapegrad/core/config.h>

#include <cstdint>

#include <tapegrad/core/dtype.h>
#include <tapegrad/core/random.h>
#include <tapegrad/core/tensor.h>

namespace tg {

/// `batch` series of `steps` values each, shape [batch, steps, 1]: the sum of two sine waves of
/// random frequencies and phases plus uniform noise, exactly as the notebook's
/// `generate_time_series(batch_size, n_steps)`:
/// ```
/// freq1, freq2, offsets1, offsets2 = rand(4, batch, 1)
/// t = linspace(0, 1, steps)
/// s  = 0.5 * sin((t - offsets1) * (freq1 * 10 + 10))
/// s += 0.2 * sin((t - offsets2) * (freq2 * 20 + 20))
/// s += 0.1 * (rand(batch, steps) - 0.5)
/// ```
/// The math runs in float64 in numpy's order; the result is rounded to `dtype` (float32, as the
/// notebook's `astype(np.float32)`, unless float64 is asked for). Draws 4 * batch + batch * steps
/// uniforms from `rng`. Throws ValueError unless batch > 0 and steps >= 2.
Tensor generate_time_series(std::int64_t batch, std::int64_t steps, Generator& rng, DType dtype = DType::f32);

/// Sizes of a forecasting dataset; the defaults are the notebook's.
struct ForecastSizes {
  std::int64_t train = 7000;  ///< series in the training split (the first ones)
  std::int64_t valid = 2000;  ///< series in the validation split (the next ones)
  std::int64_t test = 1000;   ///< series in the test split (the last ones)
  std::int64_t steps = 50;    ///< input time steps per series
  std::int64_t ahead = 10;    ///< values to forecast (ten_step_data, seq2seq_data)

  /// train + valid + test.
  std::int64_t total() const { return train + valid + test; }
};

/// Inputs and targets split into training, validation and test sets (rows in that order).
/// The inputs are [N, steps, 1]; the targets' shape depends on the task.
struct ForecastData {
  /// Training inputs and targets.
  /// @{
  Tensor x_train, y_train;
  /// @}
  /// Validation inputs and targets.
  /// @{
  Tensor x_valid, y_valid;
  /// @}
  /// Test inputs and targets.
  /// @{
  Tensor x_test, y_test;
  /// @}
};

/// Forecast the next value: generate_time_series(total, steps + 1); x = series[:, :steps],
/// y = series[:, -1] of shape [N, 1]. Seed `rng` with 42 first for the notebook's data.
/// Throws ValueError for non-positive sizes.
ForecastData one_step_data(Generator& rng, const ForecastSizes& sizes = {});

/// Forecast the next `ahead` values at once: generate_time_series(total, steps + ahead);
/// x = series[:, :steps], y = series[:, -ahead:, 0] of shape [N, ahead].
ForecastData ten_step_data(Generator& rng, const ForecastSizes& sizes = {});

/// Sequence-to-sequence targets: at every input step t the next `ahead` values,
/// y[:, t, k-1] = series[:, t + k, 0] for k = 1..ahead, shape [N, steps, ahead], from the same
/// series as ten_step_data (so the inputs are identical for the same seed).
ForecastData seq2seq_data(Generator& rng, const ForecastSizes& sizes = {});

}  // namespace tg

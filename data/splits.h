#pragma once
/// \file
/// Splits of a series by time, and backtesting folds.
///
/// A split cuts the steps [0, L) into consecutive parts, train first, then validation, then test:
/// nothing is shuffled across a boundary. Windows are then cut per part (split_windows): a window
/// belongs to the part that holds all its targets, and a window whose targets straddle a boundary
/// belongs to no part. With WindowContext::past (the default) a window's inputs may reach back
/// before its part (a validation window's inputs end in the training part: they are observed
/// before the forecast is made, so nothing of the future leaks); with WindowContext::inside its
/// inputs stay inside the part too, and the first T * r steps of each part are never targets.
///
/// Backtesting (rolling origins): K folds, each trained on the past and scored on the next H
/// steps. The last fold's test is the last H steps of the series; each earlier fold's origin is
/// `step` steps before the next one's.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <vector>

#include <tapegrad/core/tensor.h>
#include <tapegrad/data/windows.h>

namespace tg {

/// Consecutive parts of a series: train, then validation, then test.
struct TimeSplit {
  TimeRange train;  ///< first
  TimeRange valid;  ///< right after train (may be empty)
  TimeRange test;   ///< right after valid
};

/// Splits `length` steps by fractions: the first floor(train * L) steps train, the next
/// floor(valid * L) validate, and the test gets the rest when the fractions sum to 1 (else
/// floor(test * L), the steps after it unused). ValueError for a fraction outside [0, 1], fractions
/// summing past 1, or an empty train or test part.
TimeSplit split_by_fractions(std::int64_t length, double train, double valid, double test);

/// Splits `length` steps by counts: the last train + valid + test steps, in that order (the test
/// part ends the series; earlier steps, if any, are unused). ValueError for a negative count, an
/// empty train or test part, or counts summing past `length`.
TimeSplit split_by_counts(std::int64_t length, std::int64_t train, std::int64_t valid, std::int64_t test);

/// The windows of each part of a split (see the file's documentation).
struct SplitWindows {
  WindowSet train;  ///< windows whose targets lie in split.train
  WindowSet valid;  ///< windows whose targets lie in split.valid (empty when that part is)
  WindowSet test;   ///< windows whose targets lie in split.test
};

/// Cuts the windows of `series` part by part. ValueError (naming the part) when a non-empty part
/// is too short for one window.
SplitWindows split_windows(const Tensor& series, const WindowOptions& options, const TimeSplit& split,
                           WindowContext context = WindowContext::past);

/// One backtesting fold: fit on `train`, forecast and score `test`, which starts where train ends.
struct BacktestFold {
  TimeRange train;  ///< the past
  TimeRange test;   ///< the next `horizon` steps
};

/// How backtesting folds are laid out.
struct BacktestOptions {
  std::int64_t folds = 5;      ///< K: number of origins
  std::int64_t horizon = 1;    ///< H: steps scored after each origin
  std::int64_t step = 0;       ///< steps between consecutive origins (0: the horizon, so tests tile)
  std::int64_t min_train = 1;  ///< the first fold's training steps at least
  std::int64_t max_train = 0;  ///< training steps at most, a sliding window (0: every past step)
};

/// The K folds of a series of `length` steps, oldest origin first: fold k has its origin at
/// o_k = L - H - (K - 1 - k) * step, test [o_k, o_k + H) and train [0, o_k) (or its last
/// max_train steps). ValueError when the series is too short (the message gives the length
/// needed: min_train + (K - 1) * step + H) or a setting is below 1.
std::vector<BacktestFold> rolling_origins(std::int64_t length, const BacktestOptions& options);

}  // namespace tg

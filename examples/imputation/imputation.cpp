// Imputation: fill the gaps of a series from both sides. In the forecasting walkthrough's series
// (data/series.h) random gaps of 2 to 6 steps are hidden; a bidirectional RNN reads the series with
// its gaps and outputs a value for every step; its error on the hidden points is printed beside
// that of linear interpolation between the gap's two known neighbours.
//
// What the model sees: at each step two features, the value (0 where it is hidden) and a 0/1
// indicator "this value is known". Masking would be the other way (Masking or mask_zero), but a
// masked step is skipped: the RNN state at a hidden step would be the state of the last known
// step, the same for every step of the gap, so the model could not tell the gap's first step
// from its last. With the indicator every step is read and the state can count its way through
// the gap; the forward direction brings the values before it and the backward direction those
// after it:
//
//     Bidirectional(SimpleRNN(32, seq)) -> Bidirectional(SimpleRNN(32, seq)) -> Dense(1) per step
//
// The loss is the MSE over the hidden points only (a custom loss: the target carries the true
// value and the hidden indicator).
//
//     imputation [--quick] [--epochs N] [--seed S]
#include <algorithm>
#include <string>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

#include "support/cli.h"

namespace {

constexpr std::int64_t kSteps = 50;

struct Data {
  tg::Tensor x;       // [N, 50, 2]: value or 0, known indicator
  tg::Tensor y;       // [N, 50, 2]: true value, hidden indicator
  tg::Tensor series;  // [N, 50, 1]
};

// Two gaps per series, each 2..6 steps, starting in [1, 48 - length] so that every gap has a known
// step on both sides (gaps may touch or overlap and then make one longer gap).
Data make_data(std::int64_t n, tg::Generator& rng) {
  Data d{tg::zeros({n, kSteps, 2}), tg::zeros({n, kSteps, 2}), tg::generate_time_series(n, kSteps, rng)};
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<bool> hidden(kSteps, false);
    for (int g = 0; g < 2; ++g) {
      const auto len = static_cast<std::int64_t>(2 + rng.next_u32() % 5);
      const auto start = static_cast<std::int64_t>(1 + rng.next_u32() % static_cast<std::uint32_t>(kSteps - 2 - len));
      for (std::int64_t t = start; t < start + len; ++t) hidden[static_cast<std::size_t>(t)] = true;
    }
    for (std::int64_t t = 0; t < kSteps; ++t) {
      const double v = d.series.at({i, t, 0});
      const bool h = hidden[static_cast<std::size_t>(t)];
      d.x.set({i, t, 0}, h ? 0.0 : v);
      d.x.set({i, t, 1}, h ? 0.0 : 1.0);
      d.y.set({i, t, 0}, v);
      d.y.set({i, t, 1}, h ? 1.0 : 0.0);
    }
  }
  return d;
}

// Mean of (prediction - truth)^2 over the hidden points; pred [N, 50, 1].
double hidden_mse(const tg::Tensor& pred, const Data& d) {
  double s = 0;
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < d.y.size(0); ++i)
    for (std::int64_t t = 0; t < kSteps; ++t)
      if (d.y.at({i, t, 1}) != 0) {
        const double e = pred.at({i, t, 0}) - d.y.at({i, t, 0});
        s += e * e;
        ++count;
      }
  return s / static_cast<double>(count);
}

// Linear interpolation across each gap between its known neighbours: [N, 50, 1].
tg::Tensor interpolate(const Data& d) {
  tg::Tensor out = d.series.clone();
  for (std::int64_t i = 0; i < d.y.size(0); ++i) {
    for (std::int64_t t = 0; t < kSteps; ++t) {
      if (d.y.at({i, t, 1}) == 0) continue;
      std::int64_t lo = t - 1, hi = t + 1;
      while (d.y.at({i, lo, 1}) != 0) --lo;
      while (d.y.at({i, hi, 1}) != 0) ++hi;
      const double w = static_cast<double>(t - lo) / static_cast<double>(hi - lo);
      out.set({i, t, 0}, (1 - w) * d.x.at({i, lo, 0}) + w * d.x.at({i, hi, 0}));
    }
  }
  return out;
}

// The loss: MSE over the hidden points. y_true [B, 50, 2] = (value, hidden), y_pred [B, 50, 1].
tg::Tensor hidden_points_mse(const tg::Tensor& y_true, const tg::Tensor& y_pred) {
  tg::Tensor value = tg::slice(y_true, 2, 0, 1), hidden = tg::slice(y_true, 2, 1, 1);
  return tg::sum(tg::square(y_pred - value) * hidden) / tg::sum(hidden);
}

int run(int argc, char** argv) {
  using namespace tg;
  bool quick = false;
  int epochs = -1;
  std::uint32_t seed = 42;
  cli::CommandLine cl("imputation",
                      "Fills random gaps of the walkthrough's series with a bidirectional RNN and prints its error on\n"
                      "the hidden points beside that of linear interpolation.");
  cl.quick("a small run for tests: 1000/200 series, 8 epochs", [&] { quick = true; });
  cl.whole("--epochs", epochs, 1, 100000, "epochs (default 30; --quick: 8)");
  cl.whole("--seed", seed, 0, 4294967295u, "data and weights seed (default 42)", "S");
  if (const auto status = cl.parse(argc, argv)) return *status;
  if (epochs < 0) epochs = quick ? 8 : 30;
  manual_seed(seed);
  Generator rng(seed);
  const std::int64_t n_train = quick ? 1000 : 7000, n_valid = quick ? 200 : 2000;
  Data train = make_data(n_train, rng), valid = make_data(n_valid, rng);

  Sequential model(Input{None, 2}, Bidirectional(SimpleRNN(32, {.return_sequences = true})),
                   Bidirectional(SimpleRNN(32, {.return_sequences = true})), Dense(1));
  fmt::print("{}", model.summary());
  Adam opt(model.parameters(), 0.003);
  FitOptions o;
  o.epochs = epochs;
  o.optimizer = &opt;
  o.loss = hidden_points_mse;
  o.validation_data = std::make_pair(valid.x, valid.y);
  o.verbose = 2;
  fit(model, train.x, train.y, o);

  const double model_mse = hidden_mse(predict(model, valid.x), valid);
  const double interp_mse = hidden_mse(interpolate(valid), valid);
  fmt::print("imputation: MSE on the hidden points {:.5f}; linear interpolation: {:.5f} ({:.1f}x lower)\n", model_mse,
             interp_mse, interp_mse / model_mse);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tg::cli::guarded_main("imputation", [&] { return run(argc, argv); });
}

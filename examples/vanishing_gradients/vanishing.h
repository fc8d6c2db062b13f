#pragma once
// The vanishing gradient, measured: a recurrent model must output the first element of a long
// sequence of noise, so the only useful gradient is the one that reaches step 0. For every step t
// two gradients are recorded, averaged over fresh batches, at initialisation and after training:
//   ||dLoss/dx_t||, the gradient reaching the input (x.requires_grad_(), read back after backward);
//   ||dLoss/dh_t||, the gradient of the layer's output (RNN::step_gradient_norms, switched on
//   without touching the model).
// Three models, all with 16 units: SimpleRNN and LSTM with Keras' initialisation (the LSTM's
// forget bias 1), and the same LSTM with its gate biases set by the chrono initialisation.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/tapegrad.h>

namespace vanishing {

/// x [n, steps, 1] uniform in [-1, 1); y [n, 1] = x[:, 0, 0], the element to remember.
struct MemoryTask {
  tg::Tensor x, y;
};

inline MemoryTask first_element_task(std::int64_t n, std::int64_t steps, tg::Generator& gen) {
  MemoryTask d;
  d.x = tg::uniform({n, steps, 1}, -1.0, 1.0, tg::DType::f32, &gen);
  d.y = tg::reshape(tg::select(d.x, 1, 0), {n, 1});
  return d;
}

struct Settings {
  std::int64_t steps = 100;  ///< sequence length T (the lag to bridge is T - 1)
  std::int64_t units = 16;   ///< recurrent units, the same for every model
  std::int64_t batch = 32;   ///< samples per training step and per measuring batch
  int train_steps = 1000;    ///< Adam steps between the two measurements
  int measure_batches = 8;   ///< batches each measurement averages over
  double learning_rate = 1e-2;
  std::uint64_t seed = 42;
};

/// The quick mode (used by the test): the same task, a shorter training, fewer batches.
inline Settings quick_settings() {
  Settings s;
  s.train_steps = 100;
  s.measure_batches = 4;
  return s;
}

/// One measurement of one model.
struct Gradients {
  std::vector<double> x_norms;  ///< mean ||dLoss/dx_t|| over the batches, t = 0..T-1
  std::vector<double> h_norms;  ///< mean ||dLoss/dh_t|| over the batches, t = 0..T-1
  double loss = 0.0;            ///< mean MSE on the batches (0.333 is predicting 0)
  /// x_norms[0] / x_norms[T-1]: how much of the gradient reaching the last input reaches the first.
  double x_ratio() const { return x_norms.front() / x_norms.back(); }
  /// h_norms[0] / h_norms[T-1], the same for the layer's output.
  double h_ratio() const { return h_norms.front() / h_norms.back(); }
  /// h_norms[0] / h_norms[T-2]: the same without the last step, whose dLoss/dh_t is the output
  /// layer's gradient itself (an LSTM's earlier h_t get theirs only through the gates).
  double h_ratio_before_last() const { return h_norms.front() / h_norms[h_norms.size() - 2]; }
};

/// What one model showed, before and after training.
struct Profile {
  std::string name;
  Gradients init, trained;
};

/// Averages the per-step gradients of `model` (whose recurrent layer is `layer`) over
/// `s.measure_batches` fresh batches. Nothing is updated.
inline Gradients measure(tg::Module& model, tg::RNN& layer, const Settings& s, tg::Generator& gen) {
  const auto T = static_cast<std::size_t>(s.steps);
  Gradients g{std::vector<double>(T, 0.0), std::vector<double>(T, 0.0), 0.0};
  layer.set_keep_step_outputs(true);
  for (int b = 0; b < s.measure_batches; ++b) {
    MemoryTask d = first_element_task(s.batch, s.steps, gen);
    d.x.requires_grad_();
    model.zero_grad();
    tg::Tensor loss = tg::mse(d.y, model(d.x));
    g.loss += loss.item() / s.measure_batches;
    loss.backward();
    const std::vector<double> h = layer.step_gradient_norms();
    const std::vector<double> dx = d.x.grad().to_vector();  // [B, T, 1]
    for (std::size_t t = 0; t < T; ++t) {
      double sq = 0.0;
      for (std::int64_t i = 0; i < s.batch; ++i)
        sq += dx[static_cast<std::size_t>(i) * T + t] * dx[static_cast<std::size_t>(i) * T + t];
      g.x_norms[t] += std::sqrt(sq) / s.measure_batches;
      g.h_norms[t] += h[t] / s.measure_batches;
    }
  }
  layer.set_keep_step_outputs(false);
  return g;
}

/// Measures `model` at its initialisation, trains it with Adam on fresh batches, measures again.
inline Profile profile(std::string name, tg::Module& model, tg::RNN& layer, const Settings& s) {
  tg::Generator gen(s.seed + 1);
  Profile p{std::move(name), measure(model, layer, s, gen), {}};
  tg::Adam adam(model.parameters(), s.learning_rate);
  for (int i = 0; i < s.train_steps; ++i) {
    MemoryTask d = first_element_task(s.batch, s.steps, gen);
    adam.zero_grad();
    tg::mse(d.y, model(d.x)).backward();
    adam.step();
  }
  p.trained = measure(model, layer, s, gen);
  return p;
}

/// Tallec and Ollivier's chrono initialisation ("Can recurrent neural networks warp time?", ICLR
/// 2018) of a built LSTM cell for dependencies up to `max_lag` steps: each unit's forget bias is
/// log(u), u uniform in [1, max_lag - 1], and its input bias -log(u). A unit's forget gate then
/// starts near u / (1 + u), so the memory time scales at initialisation spread up to max_lag
/// (Keras' forget bias 1 gives every unit sigmoid(1) = 0.73, a time scale of about 4 steps).
inline void chrono_init(tg::LSTMCell& cell, std::int64_t max_lag, tg::Generator& gen) {
  const std::int64_t u = cell.units();
  std::vector<double> bias = cell.bias.to_vector();  // blocks i, f, c, o
  const std::vector<double> lag =
      tg::uniform({u}, 1.0, std::max(2.0, static_cast<double>(max_lag - 1)), tg::DType::f64, &gen).to_vector();
  for (std::int64_t j = 0; j < u; ++j) {
    bias[static_cast<std::size_t>(u + j)] = std::log(lag[static_cast<std::size_t>(j)]);
    bias[static_cast<std::size_t>(j)] = -std::log(lag[static_cast<std::size_t>(j)]);
  }
  cell.bias.copy_from(tg::from_vector(std::span<const double>(bias), cell.bias.shape(), cell.bias.dtype()));
}

/// SimpleRNN(units) -> Dense(1), Keras' initialisation.
inline Profile simple_rnn_profile(const Settings& s) {
  tg::manual_seed(s.seed);
  tg::Sequential model(tg::Input{tg::None, 1}, tg::SimpleRNN(s.units), tg::Dense(1));
  return profile("SimpleRNN", model, dynamic_cast<tg::RNN&>(model[0]), s);
}

/// LSTM(units) -> Dense(1), Keras' initialisation (forget bias 1).
inline Profile lstm_profile(const Settings& s) {
  tg::manual_seed(s.seed);
  tg::Sequential model(tg::Input{tg::None, 1}, tg::LSTM(s.units), tg::Dense(1));
  return profile("LSTM", model, dynamic_cast<tg::RNN&>(model[0]), s);
}

/// The same LSTM (same weights) with chrono-initialised gate biases for lags up to T.
inline Profile lstm_chrono_profile(const Settings& s) {
  tg::manual_seed(s.seed);
  tg::Sequential model(tg::Input{tg::None, 1}, tg::LSTM(s.units), tg::Dense(1));
  auto& layer = dynamic_cast<tg::RNN&>(model[0]);
  tg::Generator gen(s.seed + 2);
  chrono_init(dynamic_cast<tg::LSTMCell&>(layer.cell()), s.steps, gen);
  return profile("LSTM-chrono", model, layer, s);
}

/// All three.
inline std::vector<Profile> all_profiles(const Settings& s) {
  return {simple_rnn_profile(s), lstm_profile(s), lstm_chrono_profile(s)};
}

/// ||dLoss/dx_t|| and ||dLoss/dh_t|| relative to the last step's, every `every` steps and at the
/// last two, for the measurement `which` picks (init or trained).
inline std::string table(const std::vector<Profile>& profiles, Gradients Profile::*which, std::int64_t every) {
  std::string out = fmt::format("{:>5}", "t");
  for (const Profile& p : profiles) out += fmt::format(" {:>13}", p.name + " x");
  for (const Profile& p : profiles) out += fmt::format(" {:>13}", p.name + " h");
  out += "\n";
  const std::size_t steps = (profiles.front().*which).x_norms.size();
  for (std::size_t t = 0; t < steps; ++t) {
    if (t % static_cast<std::size_t>(every) != 0 && t + 2 < steps) continue;
    out += fmt::format("{:>5}", t);
    for (const Profile& p : profiles) {
      const Gradients& g = p.*which;
      out += fmt::format(" {:>13.3e}", g.x_norms[t] / g.x_norms.back());
    }
    for (const Profile& p : profiles) {
      const Gradients& g = p.*which;
      out += fmt::format(" {:>13.3e}", g.h_norms[t] / g.h_norms.back());
    }
    out += "\n";
  }
  return out;
}

}  // namespace vanishing

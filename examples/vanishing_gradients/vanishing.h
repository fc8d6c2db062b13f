#pragma once
// The vanishing gradient, measured: a recurrent model must output the first element of a long
// sequence of noise, so the only useful gradient is the one that reaches step 0. After some
// training, ||dLoss/dh_t|| is recorded for every step t of the recurrent layer (RNN's
// step_gradient_norms, switched on by track_step_gradients without touching the model).
#include <cstdint>
#include <memory>
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
  std::int64_t steps = 60;     ///< sequence length T
  std::int64_t units = 16;     ///< recurrent units
  std::int64_t batch = 32;     ///< samples per training step
  int train_steps = 200;       ///< Adam steps before measuring
  int measure_batches = 8;     ///< batches the norms are averaged over
  double learning_rate = 3e-3;
  std::uint64_t seed = 42;
};

/// What one model showed.
struct Profile {
  std::string name;
  std::vector<double> norms;  ///< mean ||dLoss/dh_t|| over the measuring batches, t = 0..T-1
  double loss = 0.0;          ///< mean MSE on the measuring batches (0.333 is guessing 0)
  /// norms[0] / norms[T-1]: how much of the gradient at the last step reaches the first.
  double first_to_last() const { return norms.front() / norms.back(); }
};

/// Trains `model` (whose recurrent layer is `layer`) on fresh batches of the memory task, then
/// averages the per-step gradient norms of that layer over `measure_batches` new batches.
inline Profile profile(std::string name, tg::Module& model, tg::RNN& layer, const Settings& s) {
  tg::Generator gen(s.seed + 1);
  tg::Adam adam(model.parameters(), s.learning_rate);
  for (int i = 0; i < s.train_steps; ++i) {
    MemoryTask d = first_element_task(s.batch, s.steps, gen);
    adam.zero_grad();
    tg::mse(d.y, model(d.x)).backward();
    adam.step();
  }
  Profile p{std::move(name), std::vector<double>(static_cast<std::size_t>(s.steps), 0.0), 0.0};
  layer.set_keep_step_outputs(true);
  for (int b = 0; b < s.measure_batches; ++b) {
    MemoryTask d = first_element_task(s.batch, s.steps, gen);
    model.zero_grad();
    tg::Tensor loss = tg::mse(d.y, model(d.x));
    p.loss += loss.item() / s.measure_batches;
    loss.backward();
    std::vector<double> n = layer.step_gradient_norms();
    for (std::size_t t = 0; t < n.size(); ++t) p.norms[t] += n[t] / s.measure_batches;
  }
  layer.set_keep_step_outputs(false);
  return p;
}

/// SimpleRNN(units) -> Dense(1), trained and measured.
inline Profile simple_rnn_profile(const Settings& s) {
  tg::manual_seed(s.seed);
  tg::Sequential model(tg::Input{tg::None, 1}, tg::SimpleRNN(s.units), tg::Dense(1));
  return profile("SimpleRNN", model, dynamic_cast<tg::RNN&>(model[0]), s);
}

/// LSTM(units) -> Dense(1), trained and measured the same way.
inline Profile lstm_profile(const Settings& s) {
  tg::manual_seed(s.seed);
  tg::Sequential model(tg::Input{tg::None, 1}, tg::LSTM(s.units), tg::Dense(1));
  return profile("LSTM", model, dynamic_cast<tg::RNN&>(model[0]), s);
}

/// ||dLoss/dh_t|| relative to the last step's, every `every` steps and at the last one.
inline std::string table(const std::vector<Profile>& profiles, std::int64_t every) {
  std::string out = fmt::format("{:>5}", "t");
  for (const Profile& p : profiles) out += fmt::format(" {:>12}", p.name);
  out += "\n";
  const std::size_t steps = profiles.front().norms.size();
  for (std::size_t t = 0; t < steps; ++t) {
    if (t % static_cast<std::size_t>(every) != 0 && t + 1 != steps) continue;
    out += fmt::format("{:>5}", t);
    for (const Profile& p : profiles) out += fmt::format(" {:>12.3e}", p.norms[t] / p.norms.back());
    out += "\n";
  }
  return out;
}

}  // namespace vanishing

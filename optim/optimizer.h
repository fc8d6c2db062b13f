#pragma once
/// \file
/// Optimizer: the base of every update rule. An optimizer holds a list of parameter tensors
/// (usually `model.parameters()`); `step()` reads each parameter's gradient and updates the
/// parameter in place. optim/ sees tensors and their gradients only, never modules.
///
///     tg::Adam opt(model.parameters(), 0.005);
///     opt.zero_grad();
///     tg::mse(y, model(x)).backward();
///     opt.step();
///
/// A step records nothing on the tape. State buffers (momenta, moving averages) are created at
/// the first step that sees a parameter's gradient and updated in place afterwards, so a warm
/// step allocates nothing. Parameters whose gradient is undefined are skipped (their state is
/// left as it was).

#include <tapegrad/core/config.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

class Optimizer;

/// A copy of an optimizer's state: its step count and every state buffer of its update rule
/// (momentum buffers, moving averages, per-parameter step counts). Optimizer::save_state makes it
/// and Optimizer::restore_state puts it back, so a step can be undone exactly (fit does so when a
/// step spoils the weights). Saving into the same copy again reuses its buffers: once it has
/// seen every buffer, a save allocates nothing.
class OptimizerState {
 private:
  friend class Optimizer;
  const Optimizer* owner_ = nullptr;
  std::int64_t iterations_ = 0;
  std::vector<Tensor> tensors_;         // [tracked buffer k][parameter i] at k * count + i
  std::vector<unsigned char> defined_;  // whether the optimizer's buffer existed when saved
  std::vector<std::int64_t> counters_;
};

/// The base of SGD, Adam and RMSprop: a parameter list and an update rule.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Updates every parameter that has a gradient, under NoGradGuard, and marks it written in
  /// place (Tensor::increment_version): a graph recorded before the step and not yet backwarded
  /// refuses the new weights. Throws ShapeError when a gradient does not have its parameter's
  /// shape and dtype (a parameter reshaped after backward).
  void step();
  /// Sets the gradient of every parameter to zero, keeping the buffers.
  void zero_grad();

  /// The current learning rate.
  double learning_rate() const { return lr_; }
  /// Changes the learning rate from the next step on; ValueError unless lr > 0 and finite.
  void set_learning_rate(double lr);

  /// The parameters this optimizer updates, in the order given.
  const std::vector<Tensor>& parameters() const { return params_; }
  /// Number of step() calls so far.
  std::int64_t iterations() const { return iterations_; }
  /// "SGD", "Adam", "RMSprop".
  const std::string& name() const { return name_; }

  /// Copies the step count and the state of the update rule into `into` (see OptimizerState).
  void save_state(OptimizerState& into) const;
  /// Puts back a state saved from this optimizer: buffers that did not exist then are dropped,
  /// so the next step treats their parameters as new again. ValueError for a state saved from
  /// another optimizer or never saved.
  void restore_state(const OptimizerState& from);
  /// Whether the state kept for parameter `index` holds only finite values (true before its
  /// first step and for a rule without state). An overflow there (Adam's g^2 for |g| > 1.8e19
  /// in float32) would silently freeze the parameter: its updates would be 0 from then on.
  bool state_is_finite(std::size_t index) const;

 protected:
  /// Checks the parameter list (non-empty, defined, no duplicates) and the learning rate,
  /// naming `name` in the errors.
  Optimizer(std::string name, std::vector<Tensor> params, double lr);

  /// Updates parameter `index`, whose gradient `grad` is defined and matches it.
  virtual void update(std::size_t index, Tensor& param, const Tensor& grad) = 0;

  /// Makes `state` a zero tensor of `param`'s shape and dtype unless it already is one of that
  /// shape and dtype (first step, or the parameter was converted); returns true when it did.
  static bool ensure_state(Tensor& state, const Tensor& param);

  /// ValueError "<name>: <what> must be <rule>, got <value>" unless `ok`.
  void require(bool ok, const char* what, const char* rule, double value) const;

  /// Registers state of the update rule, one entry per parameter, for save_state, restore_state
  /// and state_is_finite. Call from the constructor with a member that is sized to the
  /// parameter count there and never resized afterwards (its address must not change).
  /// @{
  void track_state(std::vector<Tensor>& per_parameter);
  void track_state(std::vector<std::int64_t>& per_parameter);
  /// @}

 private:
  std::string name_;
  std::vector<Tensor> params_;
  double lr_;
  std::int64_t iterations_ = 0;
  std::vector<std::vector<Tensor>*> tensor_state_;
  std::vector<std::vector<std::int64_t>*> counter_state_;
};

}  // namespace tg

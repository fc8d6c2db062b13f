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

/// The base of SGD, Adam and RMSprop: a parameter list and an update rule.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Updates every parameter that has a gradient, under NoGradGuard. Throws ShapeError when a
  /// gradient does not have its parameter's shape and dtype (a parameter reshaped after backward).
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

 private:
  std::string name_;
  std::vector<Tensor> params_;
  double lr_;
  std::int64_t iterations_ = 0;
};

}  // namespace tg

#pragma once
/// \file
/// Stochastic gradient descent with optional (Nesterov) momentum and weight decay, as PyTorch's
/// SGD (Keras' agrees for a constant learning rate and no weight decay):
///
///     g     = g + weight_decay * theta      (L2, as torch's weight_decay)
///     buf   = momentum * buf + g            (buf = g at a parameter's first update)
///     theta -= lr * (nesterov ? g + momentum * buf : buf)
///
/// With momentum 0 this is theta -= lr * g and keeps no state. A parameter that requires grad but
/// has no gradient this step is updated with g = 0 (optim/optimizer.h): its momentum still moves
/// it, as in PyTorch after zero_grad(set_to_none = False).

#include <tapegrad/core/config.h>

#include <vector>

#include <tapegrad/optim/optimizer.h>

namespace tg {

/// Stochastic gradient descent with optional (Nesterov) momentum and weight decay.
class SGD : public Optimizer {
 public:
  /// ValueError unless lr > 0, momentum >= 0 (finite; PyTorch does not bound it above),
  /// nesterov comes with momentum > 0, and weight_decay >= 0 and finite.
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, bool nesterov = false, double weight_decay = 0.0);
  /// The same over parameter groups; `lr` and `weight_decay` are the base ones (optim/optimizer.h).
  SGD(std::vector<ParamGroup> groups, double lr, double momentum = 0.0, bool nesterov = false,
      double weight_decay = 0.0);

  /// The hyperparameters.
  /// @{
  double momentum() const { return momentum_; }
  bool nesterov() const { return nesterov_; }
  /// @}

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad, double lr, double weight_decay) override;

 private:
  double momentum_;
  bool nesterov_;
  std::vector<Tensor> buf_;
};

}  // namespace tg

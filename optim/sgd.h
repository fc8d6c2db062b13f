#pragma once
/// \file
/// Stochastic gradient descent with optional (Nesterov) momentum, as PyTorch's and Keras' SGD
/// (the two agree for a constant learning rate):
///
///     buf   = momentum * buf + g          (buf = g at a parameter's first step)
///     theta -= lr * (nesterov ? g + momentum * buf : buf)
///
/// With momentum 0 this is theta -= lr * g and keeps no state.

#include <tapegrad/core/config.h>

#include <vector>

#include <tapegrad/optim/optimizer.h>

namespace tg {

/// Stochastic gradient descent with optional (Nesterov) momentum.
class SGD : public Optimizer {
 public:
  /// ValueError unless lr > 0, momentum >= 0 (finite; PyTorch does not bound it above) and
  /// nesterov comes with momentum > 0.
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, bool nesterov = false);

  /// The hyperparameters.
  /// @{
  double momentum() const { return momentum_; }
  bool nesterov() const { return nesterov_; }
  /// @}

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;

 private:
  double momentum_;
  bool nesterov_;
  std::vector<Tensor> buf_;
};

}  // namespace tg

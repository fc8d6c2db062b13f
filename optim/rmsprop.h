#pragma once
/// \file
/// RMSprop as Keras 3 and PyTorch (torch.optim.RMSprop without momentum) define it:
///
///     v = rho * v + (1 - rho) * g^2
///     theta -= lr * g / (sqrt(v) + epsilon)
///
/// (TensorFlow 2.4's Keras put epsilon inside the square root: sqrt(v + epsilon).)

#include <tapegrad/core/config.h>

#include <vector>

#include <tapegrad/optim/optimizer.h>

namespace tg {

/// RMSprop, as Keras' (see the file comment).
class RMSprop : public Optimizer {
 public:
  /// ValueError unless lr > 0, rho in [0, 1) and epsilon >= 0 (all finite).
  RMSprop(std::vector<Tensor> params, double lr = 0.001, double rho = 0.9, double epsilon = 1e-7);

  /// The hyperparameters.
  /// @{
  double rho() const { return rho_; }
  double epsilon() const { return epsilon_; }
  /// @}

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;

 private:
  double rho_, epsilon_;
  std::vector<Tensor> v_;
};

}  // namespace tg

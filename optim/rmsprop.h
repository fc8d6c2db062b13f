#pragma once
/// \file
/// RMSprop as Keras 3 and PyTorch (torch.optim.RMSprop without momentum) define it:
///
///     g = g + weight_decay * theta      (L2, as torch's weight_decay)
///     v = rho * v + (1 - rho) * g^2
///     theta -= lr * g / (sqrt(v) + epsilon)
///
/// (TensorFlow 2.4's Keras put epsilon inside the square root: sqrt(v + epsilon).) A parameter
/// that requires grad but has no gradient this step is updated with g = 0 (optim/optimizer.h):
/// v decays, as in PyTorch after zero_grad(set_to_none = False).

#include <tapegrad/core/config.h>

#include <vector>

#include <tapegrad/optim/optimizer.h>

namespace tg {

/// RMSprop, as Keras' (see the file comment).
class RMSprop : public Optimizer {
 public:
  /// ValueError unless lr > 0, rho in [0, 1), epsilon >= 0 and weight_decay >= 0 (all finite).
  RMSprop(std::vector<Tensor> params, double lr = 0.001, double rho = 0.9, double epsilon = 1e-7,
          double weight_decay = 0.0);
  /// The same over parameter groups; `lr` and `weight_decay` are the base ones (optim/optimizer.h).
  RMSprop(std::vector<ParamGroup> groups, double lr = 0.001, double rho = 0.9, double epsilon = 1e-7,
          double weight_decay = 0.0);

  /// The hyperparameters.
  /// @{
  double rho() const { return rho_; }
  double epsilon() const { return epsilon_; }
  /// @}

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad, double lr, double weight_decay) override;

 private:
  double rho_, epsilon_;
  std::vector<Tensor> v_;
};

}  // namespace tg

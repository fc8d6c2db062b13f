#pragma once
/// \file
/// Adam (Kingma & Ba) with Keras' defaults. With g the gradient and t the parameter's step count:
///
///     m = beta1 * m + (1 - beta1) * g
///     v = beta2 * v + (1 - beta2) * g^2
///
/// and one of two placements of epsilon:
///
///     keras   (Keras' "epsilon hat"):
///         theta -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
///     pytorch (torch.optim.Adam):
///         theta -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)
///
/// The two differ only in how much epsilon weighs early on. Each parameter counts its own steps
/// (as PyTorch's state["step"]), so a parameter that had no gradient for a while is not
/// bias-corrected as if it had.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <vector>

#include <tapegrad/optim/optimizer.h>

namespace tg {

/// Where Adam adds epsilon (see optim/adam.h).
enum class EpsilonMode { keras, pytorch };

/// Adam (Kingma & Ba), as Keras' and PyTorch's (see the file comment).
class Adam : public Optimizer {
 public:
  /// ValueError unless lr > 0, beta1 and beta2 in [0, 1) and epsilon >= 0 (all finite).
  Adam(std::vector<Tensor> params, double lr = 0.001, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-7,
       EpsilonMode mode = EpsilonMode::keras);

  /// The hyperparameters.
  /// @{
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double epsilon() const { return epsilon_; }
  EpsilonMode epsilon_mode() const { return mode_; }
  /// @}

 protected:
  void update(std::size_t index, Tensor& param, const Tensor& grad) override;

 private:
  double beta1_, beta2_, epsilon_;
  EpsilonMode mode_;
  std::vector<Tensor> m_, v_;
  std::vector<std::int64_t> steps_;
};

}  // namespace tg

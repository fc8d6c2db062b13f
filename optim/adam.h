#pragma once
/// \file
/// Adam (Kingma & Ba) with Keras' defaults, and AdamW (Loshchilov & Hutter). With g the gradient
/// and t the parameter's step count:
///
///     g = g + weight_decay * theta              (Adam with weight_decay > 0: L2, as torch's)
///     theta = theta * (1 - lr * weight_decay)   (AdamW: decoupled, as torch.optim.AdamW)
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
/// (PyTorch's state["step"]): every step() in which it was updated, with a gradient or without
/// one (see optim/optimizer.h), so a parameter that a batch did not reach is bias-corrected as
/// PyTorch corrects it after zero_grad(set_to_none = False). A frozen parameter (requires_grad
/// false) does not count the steps it misses.

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
  /// ValueError unless lr > 0, beta1 and beta2 in [0, 1), epsilon >= 0 and weight_decay >= 0
  /// (all finite). weight_decay adds weight_decay * theta to the gradient (L2, as torch.optim.Adam's
  /// weight_decay; AdamW decouples it).
  Adam(std::vector<Tensor> params, double lr = 0.001, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-7,
       EpsilonMode mode = EpsilonMode::keras, double weight_decay = 0.0);
  /// The same over parameter groups; `lr` and `weight_decay` are the base ones (optim/optimizer.h).
  Adam(std::vector<ParamGroup> groups, double lr = 0.001, double beta1 = 0.9, double beta2 = 0.999,
       double epsilon = 1e-7, EpsilonMode mode = EpsilonMode::keras, double weight_decay = 0.0);

  /// The hyperparameters.
  /// @{
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double epsilon() const { return epsilon_; }
  EpsilonMode epsilon_mode() const { return mode_; }
  /// @}
  /// The step count of parameter `index` (the t of its bias correction at its last update).
  std::int64_t parameter_steps(std::size_t index) const { return steps_.at(index); }

 protected:
  /// For AdamW: `decoupled` applies the weight decay to the weights (theta *= 1 - lr * wd)
  /// instead of adding it to the gradient; `name` is the optimizer's name in errors and state.
  Adam(const char* name, bool decoupled, std::vector<ParamGroup> groups, double lr, double beta1, double beta2,
       double epsilon, EpsilonMode mode, double weight_decay);
  void update(std::size_t index, Tensor& param, const Tensor& grad, double lr, double weight_decay) override;

 private:
  double beta1_, beta2_, epsilon_;
  EpsilonMode mode_;
  bool decoupled_;
  std::vector<Tensor> m_, v_;
  std::vector<std::int64_t> steps_;
};

/// AdamW: Adam with decoupled weight decay, as torch.optim.AdamW and Keras' AdamW: each step
/// first shrinks every weight by the factor 1 - lr * weight_decay (the group's rate and decay),
/// then takes Adam's step from the gradient alone. The defaults are Keras' (weight_decay 0.004,
/// epsilon 1e-7 added Keras' way); torch.optim.AdamW's are
/// `AdamW(params, 1e-3, 1e-2, 0.9, 0.999, 1e-8, EpsilonMode::pytorch)`.
class AdamW : public Adam {
 public:
  /// ValueError unless lr > 0, weight_decay >= 0, beta1 and beta2 in [0, 1) and epsilon >= 0
  /// (all finite).
  AdamW(std::vector<Tensor> params, double lr = 0.001, double weight_decay = 0.004, double beta1 = 0.9,
        double beta2 = 0.999, double epsilon = 1e-7, EpsilonMode mode = EpsilonMode::keras);
  /// The same over parameter groups; `lr` and `weight_decay` are the base ones (optim/optimizer.h).
  AdamW(std::vector<ParamGroup> groups, double lr = 0.001, double weight_decay = 0.004, double beta1 = 0.9,
        double beta2 = 0.999, double epsilon = 1e-7, EpsilonMode mode = EpsilonMode::keras);
};

}  // namespace tg

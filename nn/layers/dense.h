#pragma once
/// \file
/// Dense: activation(x kernel + bias) on the last axis, as Keras' Dense (so on [B,T,F] inputs it
/// acts on every time step). Kernel glorot_uniform [in, units], bias zeros [units].

#include <tapegrad/core/config.h>

#include <tapegrad/nn/layers/activation.h>
#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Keras' Dense(units, activation): activation(x kernel + bias) on the last axis.
class Dense : public Module {
 public:
  /// Built at the first input (or by Sequential's Input), when the input features are known.
  explicit Dense(std::int64_t units, Activation activation = activations::linear);
  /// Builds at once for `input_features` inputs.
  Dense(std::int64_t input_features, std::int64_t units, Activation activation = activations::linear);

  Tensor forward(const Tensor& x) override;
  /// Each step is computed on its own: a mask passes through unchanged.
  bool supports_masking() const override { return true; }
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// Output features.
  std::int64_t units() const { return units_; }
  /// [in, units] and [units]; undefined until built.
  /// @{
  Tensor kernel, bias;
  /// @}

 protected:
  Dims on_build(const Dims& input) override;

 private:
  std::int64_t units_;
  Activation activation_;
};

/// Flatten: [B, d1, d2, ...] -> [B, d1 * d2 * ...].
class Flatten : public Module {
 public:
  Flatten() : Module("Flatten") {}
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

 protected:
  Dims on_build(const Dims& input) override;
};

}  // namespace tg

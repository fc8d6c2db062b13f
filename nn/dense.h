#pragma once
/// \file
/// Dense: activation(x kernel + bias) on the last axis, as Keras' Dense (so on [B,T,F] inputs it
/// acts on every time step). Kernel glorot_uniform [in, units], bias zeros [units].

#include "nn/activation.h"
#include "nn/module.h"

namespace tg {

class Dense : public Module {
 public:
  explicit Dense(std::int64_t units, Activation activation = activations::linear);
  /// Builds at once for `input_features` inputs.
  Dense(std::int64_t input_features, std::int64_t units, Activation activation = activations::linear);

  Tensor forward(const Tensor& x) override;
  /// Each step is computed on its own: a mask passes through unchanged.
  bool supports_masking() const override { return true; }

  std::int64_t units() const { return units_; }
  Tensor kernel, bias;

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

 protected:
  Dims on_build(const Dims& input) override;
};

}  // namespace tg

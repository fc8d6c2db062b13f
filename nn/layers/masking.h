#pragma once
/// \file
/// Masking(mask_value): marks the padded steps of x [B, T, F], those whose every feature equals
/// mask_value, as Keras' Masking layer. Its output is x with the padded steps set to zero (x
/// itself, no node, when mask_value is 0); the mask it makes reaches the recurrent layers after
/// it in a Sequential (nn/layers/module.h, "Masking"):
///
///     tg::Sequential model(tg::Input{tg::None, 1}, tg::Masking(0.0), tg::SimpleRNN(20), tg::Dense(1));

#include <tapegrad/core/config.h>

#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Keras' Masking(mask_value): masks the steps of x [B, T, F] whose every feature is mask_value.
class Masking : public Module {
 public:
  /// Masks the steps whose every feature equals `mask_value`.
  explicit Masking(double mask_value = 0.0);

  /// x [B, T, F] -> x with the masked steps zeroed. ShapeError unless x has rank 3.
  Tensor forward(const Tensor& x) override;
  bool supports_masking() const override { return true; }
  /// [B, T]: 1 where some feature of the step differs from mask_value, 0 where none does. The
  /// incoming mask is replaced, as in Keras.
  Tensor compute_mask(const Tensor& x, const Tensor& mask) const override;
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// The value that marks a padded step.
  double mask_value() const { return mask_value_; }

 protected:
  Dims on_build(const Dims& input) override;

 private:
  double mask_value_;
};

}  // namespace tg

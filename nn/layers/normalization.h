#pragma once
/// \file
/// LayerNormalization over the last axis, as Keras' LayerNormalization(axis=-1): epsilon 1e-3,
/// gamma ones [D], beta zeros [D]. One fused op (ops/norm.h) per call.

#include <tapegrad/core/config.h>

#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Keras' LayerNormalization(axis=-1): normalises each vector of the last axis to mean 0 and
/// variance 1, then scales by gamma and shifts by beta.
class LayerNormalization : public Module {
 public:
  /// ValueError for a negative epsilon.
  explicit LayerNormalization(double epsilon = 1e-3);
  /// Builds at once for `features` (the size of the last axis).
  LayerNormalization(std::int64_t features, double epsilon);

  /// x [..., D] -> the same shape; ShapeError when D is not the size built for.
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// Added to the variance before its square root.
  double epsilon() const { return epsilon_; }
  /// gamma (ones) and beta (zeros), [D] each; undefined until built.
  /// @{
  Tensor gamma, beta;
  /// @}

 protected:
  Dims on_build(const Dims& input) override;

 private:
  double epsilon_;
};

}  // namespace tg

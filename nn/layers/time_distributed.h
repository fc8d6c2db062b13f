#pragma once
/// \file
/// TimeDistributed(layer): applies `layer` to every time step of x [B, T, ...] by folding time
/// into the batch ([B*T, ...]), so one GEMM serves all steps.

#include <tapegrad/core/config.h>

#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Keras' TimeDistributed(layer): `layer` on every time step of x [B, T, ...].
class TimeDistributed : public Module {
 public:
  template <class L>
  /// Wraps `layer` (by value or shared_ptr).
  explicit TimeDistributed(L&& layer) : Module("TimeDistributed") {
    layer_ = register_module("layer", to_module_ptr(std::forward<L>(layer)));
  }
  Tensor forward(const Tensor& x) override;
  /// The layer sees every step on its own: a mask passes through unchanged.
  bool supports_masking() const override { return true; }
  /// A TimeDistributed of the wrapped layer's clone_unbuilt.
  std::shared_ptr<Module> clone_unbuilt() const override;
  /// {"layer": the wrapped layer's description}.
  std::optional<Json> config() const override;
  /// The wrapped layer.
  Module& layer() { return *layer_; }

 protected:
  Dims on_build(const Dims& input) override;

 private:
  ModulePtr layer_;
};

}  // namespace tg

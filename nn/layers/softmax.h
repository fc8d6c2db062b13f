#pragma once
/// \file
/// Softmax(axis): Keras' Softmax layer, exp(x) / sum(exp(x)) along one axis (the last by default),
/// computed stably by tg::softmax (ops/softmax.h). As an activation of Dense or Conv1D it is
/// `tg::activations::softmax` (the last axis).

#include <tapegrad/core/config.h>

#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Keras' Softmax(axis = -1): the same shape out, each slice along `axis` summing to 1.
class Softmax : public Module {
 public:
  /// `axis` counts from the end when negative; checked against the input's rank at forward.
  explicit Softmax(int axis = -1) : Module("Softmax"), axis_(axis) {}

  /// softmax(x, axis). ValueError when the axis is out of range for x or empty.
  Tensor forward(const Tensor& x) override;
  /// With axis -1 each step is computed on its own: a mask passes through unchanged.
  bool supports_masking() const override { return axis_ == -1; }
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// The axis the slices run along.
  int axis() const { return axis_; }

 private:
  int axis_;
};

}  // namespace tg

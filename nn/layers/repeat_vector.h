#pragma once
/// \file
/// RepeatVector(n): [B, F] -> [B, n, F], the same vector at every one of n time steps, as Keras'
/// RepeatVector. It turns a vector into a sequence for a recurrent layer (vector-to-sequence
/// models); the gradient of the copies is summed back.

#include <tapegrad/core/config.h>

#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Keras' RepeatVector(n): [B, F] -> [B, n, F].
class RepeatVector : public Module {
 public:
  /// ValueError unless n > 0.
  explicit RepeatVector(std::int64_t n);
  /// x [B, F] -> [B, n, F]; ShapeError for another rank.
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;
  /// Number of time steps of the output.
  std::int64_t n() const { return n_; }

 protected:
  Dims on_build(const Dims& input) override;

 private:
  std::int64_t n_;
};

}  // namespace tg

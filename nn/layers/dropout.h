#pragma once
/// \file
/// Dropout(rate), as Keras': in training mode each element is zeroed with probability `rate` and
/// the kept ones are scaled by 1 / (1 - rate) (inverted dropout), so evaluation needs no
/// rescaling; in evaluation mode (evaluate, predict, Module::eval) it is the identity. fit trains
/// with it on; evaluate, predict and fit's validation run with it off.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <optional>

#include <tapegrad/core/random.h>
#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Keras' Dropout(rate): inverted dropout in training mode, the identity in evaluation mode.
class Dropout : public Module {
 public:
  /// Draws its masks from the default generator (tg::manual_seed). ValueError unless 0 <= rate < 1.
  explicit Dropout(double rate);
  /// Draws its masks from a generator of its own, seeded `seed`: the same masks run after run.
  Dropout(double rate, std::uint32_t seed);

  Tensor forward(const Tensor& x) override;
  /// A copy with the same rate; with a generator of its own, a copy of that generator in its
  /// present state (the copy draws the masks this layer would draw next).
  std::shared_ptr<Module> clone_unbuilt() const override;
  /// rate, and seed (null for the default generator).
  std::optional<Json> config() const override;

  /// The probability that an element is zeroed, in [0, 1).
  double rate() const { return rate_; }

 private:
  double rate_;
  std::optional<std::uint32_t> seed_;
  std::optional<Generator> generator_;
};

/// x * mask / (1 - rate), mask[i] = 1 with probability 1 - rate (a uniform draw >= rate), drawn
/// from `gen`. Differentiable in x (the gradient is the same mask, scaled). ValueError unless
/// 0 <= rate < 1.
Tensor dropout(const Tensor& x, double rate, Generator& gen);

}  // namespace tg

#pragma once
/// \file
/// LNSimpleRNNCell: a SimpleRNN cell with layer normalisation, the book's LNSimpleRNNCell
/// (Géron, ch. 15): h_t = activation(LayerNorm(x_t W + b + h_{t-1} U)). Written only on the
/// public RecurrentCell interface, as a user would write a cell; it runs in RNN, stacks and
/// seq2seq models unchanged:
///
///     tg::RNN(std::make_shared<tg::LNSimpleRNNCell>(20), {.return_sequences = true})

#include <tapegrad/core/config.h>

#include <memory>

#include <tapegrad/nn/layers/normalization.h>
#include <tapegrad/nn/recurrent/rnn.h>

namespace tg {

/// One step h_t = activation(LayerNorm(x_t W + b + h_{t-1} U)), state {h}.
class LNSimpleRNNCell : public RecurrentCell {
 public:
  /// W glorot_uniform [F, units], U orthogonal [units, units], b zeros, LayerNormalization(units)
  /// with Keras' epsilon 1e-3. ValueError for units <= 0.
  explicit LNSimpleRNNCell(std::int64_t units, Activation activation = activations::tanh);

  std::vector<std::int64_t> state_sizes() const override { return {units_}; }
  /// x W + b for all steps at once: [B, T, F] -> [B, T, units].
  Tensor prepare(const Tensor& x) override;
  States step(const Tensor& prepared, std::int64_t t, const States& states) override;
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// W [F, units], U [units, units], b [units]; undefined until built.
  /// @{
  Tensor kernel, recurrent_kernel, bias;
  /// @}
  /// The LayerNormalization(units) of each step's pre-activation; null until built.
  std::shared_ptr<LayerNormalization> layer_norm;

 protected:
  Dims on_build(const Dims& input) override;

 private:
  std::int64_t units_;
  Activation activation_;
};

}  // namespace tg

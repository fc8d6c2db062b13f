#pragma once
/// \file
/// Bidirectional(layer): a recurrent layer run over the sequence in both directions, as Keras'
/// Bidirectional. The forward direction is `layer`; the backward direction is a copy of it with
/// its own weights (a clone of its cell, the same options) that reads the steps from the last
/// to the first. Their outputs are joined: concatenated on the features (2 x units) or summed.
/// With return_sequences, output t joins both directions' states at step t (the backward
/// outputs are put back in time order); without, the forward final state (after the last step)
/// and the backward one (after step 0).
///
/// Masks (nn/layers/module.h): both directions skip the masked steps row by row, so a padded sequence
/// is read backwards from its own last real step, as if it were reversed within its valid
/// length (Keras, PyTorch's packed sequences). At padded steps the backward direction outputs
/// zeros (it has not started yet) and the forward one its last state.
///
///     tg::Sequential model(tg::Input{tg::None, 2},
///                          tg::Bidirectional(tg::SimpleRNN(16, {.return_sequences = true})),
///                          tg::TimeDistributed(tg::Dense(1)));

#include <tapegrad/core/config.h>

#include <memory>

#include <tapegrad/nn/layers/module.h>
#include <tapegrad/nn/recurrent/rnn.h>

namespace tg {

/// How Bidirectional joins its two directions.
enum class MergeMode { concat, sum };

/// A recurrent layer run forwards and backwards over x [B, T, F], the two outputs joined by
/// MergeMode (see the file comment).
class Bidirectional : public Module {
 public:
  /// `layer` (an RNN or a subclass such as SimpleRNN, by value or shared_ptr) is the forward
  /// direction; its clone_unbuilt() makes the backward one, with weights of its own (ValueError
  /// if its cell cannot be cloned).
  template <class L>
  explicit Bidirectional(L&& layer, MergeMode merge = MergeMode::concat)
      : Bidirectional(std::shared_ptr<RNN>(to_module_ptr(std::forward<L>(layer))), MergeMode{merge}, 0) {}
  /// Both directions given (for cells without clone). ValueError when they differ in
  /// return_sequences, or in their number of units with MergeMode::sum.
  Bidirectional(std::shared_ptr<RNN> forward_layer, std::shared_ptr<RNN> backward_layer,
                MergeMode merge = MergeMode::concat);

  Tensor forward(const Tensor& x) override;
  bool supports_masking() const override { return true; }
  Tensor forward_masked(const Tensor& x, const Tensor& mask) override;
  /// With return_sequences the input's mask; otherwise none.
  Tensor compute_mask(const Tensor& x, const Tensor& mask) const override;

  /// The layer that reads the steps from first to last (registered as "forward_layer").
  RNN& forward_layer() { return *forward_; }
  /// The layer that reads the steps from last to first, with weights of its own (registered as
  /// "backward_layer").
  RNN& backward_layer() { return *backward_; }
  /// How the two directions' outputs are joined.
  MergeMode merge() const { return merge_; }
  /// Both directions' clone_unbuilt, the same merge.
  std::shared_ptr<Module> clone_unbuilt() const override;
  /// {"forward_layer": ..., "backward_layer": ... (descriptions), "merge": "concat" or "sum"}.
  std::optional<Json> config() const override;

 protected:
  Dims on_build(const Dims& input) override;

 private:
  Bidirectional(std::shared_ptr<RNN> layer, MergeMode merge, int);
  Tensor run(const Tensor& x, const Tensor& mask);

  std::shared_ptr<RNN> forward_, backward_;
  MergeMode merge_;
};

}  // namespace tg

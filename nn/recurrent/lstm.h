#pragma once
/// \file
/// Keras' LSTM: a cell (one time step, fused into one tape node by ops/gated.h) unrolled by RNN.
///
/// Weights, in Keras' layout and order (gate blocks i, f, c, o side by side, each u wide):
///   kernel [F, 4u] (glorot_uniform), recurrent_kernel [u, 4u] (orthogonal), bias [4u] (zeros,
///   but ones in the forget block f: Keras' unit_forget_bias). LSTM(20) on 1 feature: 1760.
///
/// From PyTorch's torch.nn.LSTM (gate order i, f, g, o: the same blocks in the same order, g
/// being Keras' c), for layer k:
///   kernel           = weight_ih_lk.T      ([4u, F] -> [F, 4u])
///   recurrent_kernel = weight_hh_lk.T      ([4u, u] -> [u, 4u])
///   bias             = bias_ih_lk + bias_hh_lk   (PyTorch has two biases that only ever add)
/// and back: weight_ih = kernel.T, weight_hh = recurrent_kernel.T, bias_ih = bias, bias_hh = 0.
/// The math is then the same (batch_first = True, zero initial states); checked against
/// torch.nn.LSTM by tests/nn/recurrent/gated_layers_test.cpp with goldens from scripts/make_gated_goldens.py.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <vector>

#include <tapegrad/nn/recurrent/rnn.h>

namespace tg {

/// One LSTM step, states {h, c}: z = x W + b + h_prev U; i, f, o = sigmoid, g = tanh of the
/// blocks of z; c = f c_prev + i g; h = o tanh(c). prepare projects all steps at once
/// ([B, T, F] -> [B, T, 4u], one GEMM); each step is one lstm_step node, and the scan runs
/// lstm_scan (ops/rnn.h: U packed once per sequence, dU as one GEMM) unless there is a mask.
class LSTMCell : public RecurrentCell {
 public:
  /// A cell of `units` features; its parameters are made when built. ValueError for units <= 0.
  explicit LSTMCell(std::int64_t units);
  std::vector<std::int64_t> state_sizes() const override { return {units_, units_}; }
  Tensor prepare(const Tensor& x) override;
  States step(const Tensor& prepared, std::int64_t t, const States& states) override;
  /// lstm_scan (ops/rnn.h) without a mask; the default with one.
  ScanResult scan(const Tensor& prepared, const States& initial, const ScanOptions& options) override;
  /// Number of features of each state, h and c (u).
  std::int64_t units() const { return units_; }
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// kernel [F, 4u], recurrent_kernel [u, 4u], bias [4u] (ones in the forget block); undefined
  /// until built.
  /// @{
  Tensor kernel, recurrent_kernel, bias;
  /// @}

 protected:
  Dims on_build(const Dims& input) override;

 private:
  std::int64_t units_;
};

/// Keras' LSTM(units, return_sequences = false): outputs h (every step's, or the last one).
/// forward_with_states returns the final {h, c}.
class LSTM : public RNN {
 public:
  /// An RNN around an LSTMCell(units). ValueError for units <= 0.
  explicit LSTM(std::int64_t units, RNNOptions options = {});
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;
};

}  // namespace tg

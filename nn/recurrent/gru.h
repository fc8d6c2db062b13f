#pragma once
/// \file
/// Keras' GRU (TF2's default reset_after = true): a cell (one time step, fused into one tape node
/// by ops/gated.h) unrolled by RNN.
///
/// Weights, in Keras' layout and order (gate blocks z, r, h side by side, each u wide):
///   kernel [F, 3u] (glorot_uniform), recurrent_kernel [u, 3u] (orthogonal), bias [2, 3u]
///   (zeros; row 0 is added to x W, row 1 to h U). GRU(20) on 1 feature: 1380 parameters.
///
/// From PyTorch's torch.nn.GRU, whose math is the same but whose gate blocks come in the order
/// r, z, n (n being Keras' h): with P(A) the permutation that takes the row blocks (r, z, n) of A
/// to the order (z, r, n), for layer k
///   kernel           = P(weight_ih_lk).T   ([3u, F] -> [F, 3u])
///   recurrent_kernel = P(weight_hh_lk).T   ([3u, u] -> [u, 3u])
///   bias[0] = P(bias_ih_lk),  bias[1] = P(bias_hh_lk)
/// and back with the inverse permutation. Checked against torch.nn.GRU (batch_first = True, zero
/// initial state) by tests/nn/recurrent/gated_layers_test.cpp with goldens from scripts/make_gated_goldens.py.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <vector>

#include <tapegrad/nn/recurrent/rnn.h>

namespace tg {

/// One GRU step, state {h}: with xw = x W + bias[0] and hu = h_prev U + bias[1],
/// z = sigmoid(xw_z + hu_z), r = sigmoid(xw_r + hu_r), n = tanh(xw_h + r hu_h),
/// h = z h_prev + (1 - z) n. prepare projects all steps at once ([B, T, F] -> [B, T, 3u], one
/// GEMM); each step is one gru_step node.
class GRUCell : public RecurrentCell {
 public:
  /// A cell of `units` features; its parameters are made when built. ValueError for units <= 0.
  explicit GRUCell(std::int64_t units);
  std::vector<std::int64_t> state_sizes() const override { return {units_}; }
  Tensor prepare(const Tensor& x) override;
  States step(const Tensor& prepared, std::int64_t t, const States& states) override;
  /// Number of features of the state h (u).
  std::int64_t units() const { return units_; }

  /// kernel [F, 3u], recurrent_kernel [u, 3u], bias [2, 3u] (row 0 input, row 1 recurrent);
  /// undefined until built.
  /// @{
  Tensor kernel, recurrent_kernel, bias;
  /// @}

 protected:
  Dims on_build(const Dims& input) override;

 private:
  std::int64_t units_;
};

/// Keras' GRU(units, return_sequences = false), reset_after = true.
class GRU : public RNN {
 public:
  /// An RNN around a GRUCell(units). ValueError for units <= 0.
  explicit GRU(std::int64_t units, RNNOptions options = {});
};

}  // namespace tg

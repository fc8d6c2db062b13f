#pragma once
/// \file
/// Keras' GRU: a cell unrolled by RNN, in either of Keras' layouts. reset_after = true (TF2's
/// default, PyTorch's math) fuses each step into one tape node (ops/gated.h); reset_after = false
/// (Keras 2's TF1-era default, so older Keras weights map) applies the reset gate to h before
/// the recurrent matmul and has one bias vector, and is written with plain ops (about 15 nodes
/// a step).
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
/// and back with the inverse permutation.
///
/// reset_after = false: kernel [F, 3u], recurrent_kernel [u, 3u], bias [3u] (added to x W only):
///   z = sigmoid(xw_z + h_prev U_z), r = sigmoid(xw_r + h_prev U_r),
///   n = tanh(xw_h + (r h_prev) U_h), h = z h_prev + (1 - z) n.
/// GRU(20, {}, {.reset_after = false}) on 1 feature: 1320 parameters. PyTorch has no such GRU;
/// the goldens state Keras' equations in plain torch tensors.
///
/// reset_after = true is checked against torch.nn.GRU (batch_first = True, zero
/// initial state) by tests/nn/recurrent/gated_layers_test.cpp with goldens from scripts/make_gated_goldens.py.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <vector>

#include <tapegrad/nn/recurrent/rnn.h>

namespace tg {

/// GRU's options besides RNNOptions.
struct GRUOptions {
  /// Keras' reset_after: true applies the reset gate after the recurrent matmul (two bias rows,
  /// PyTorch's math), false before it (one bias vector); see the file comment.
  bool reset_after = true;
};

/// One GRU step, state {h}: with xw = x W + bias[0] and hu = h_prev U + bias[1],
/// z = sigmoid(xw_z + hu_z), r = sigmoid(xw_r + hu_r), n = tanh(xw_h + r hu_h),
/// h = z h_prev + (1 - z) n. prepare projects all steps at once ([B, T, F] -> [B, T, 3u], one
/// GEMM); each step is one gru_step node, and the scan runs gru_scan (ops/rnn.h: U packed once
/// per sequence, dU as one GEMM) unless there is a mask. With reset_after = false, the equations
/// of the file comment, in plain ops, through the default scan.
class GRUCell : public RecurrentCell {
 public:
  /// A cell of `units` features; its parameters are made when built. ValueError for units <= 0.
  explicit GRUCell(std::int64_t units, GRUOptions options = {});
  std::vector<std::int64_t> state_sizes() const override { return {units_}; }
  Tensor prepare(const Tensor& x) override;
  States step(const Tensor& prepared, std::int64_t t, const States& states) override;
  /// gru_scan (ops/rnn.h) with reset_after and no mask; the default otherwise.
  ScanResult scan(const Tensor& prepared, const States& initial, const ScanOptions& options) override;
  /// Number of features of the state h (u).
  std::int64_t units() const { return units_; }
  /// Which of Keras' layouts.
  bool reset_after() const { return options_.reset_after; }
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// kernel [F, 3u], recurrent_kernel [u, 3u], bias [2, 3u] (row 0 input, row 1 recurrent; [3u]
  /// with reset_after = false); undefined until built.
  /// @{
  Tensor kernel, recurrent_kernel, bias;
  /// @}

 protected:
  Dims on_build(const Dims& input) override;

 private:
  std::int64_t units_;
  GRUOptions options_;
};

/// Keras' GRU(units, return_sequences = false, reset_after = true):
/// `tg::GRU(32, {.return_sequences = true}, {.reset_after = false})`.
class GRU : public RNN {
 public:
  /// An RNN around a GRUCell(units, gru). ValueError for units <= 0.
  explicit GRU(std::int64_t units, RNNOptions options = {}, GRUOptions gru = {});
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;
};

}  // namespace tg

#pragma once
/// \file
/// Fused time steps of the gated recurrent cells: one LSTM or GRU step is one tape node (one
/// recurrent GEMM, the gate math in one loop; backward two GEMMs and one loop) instead of the
/// fifteen-odd nodes of the same step written with plain ops. The input projection x W + b of
/// all steps is done once beforehand (`xw`, [B, T, 4u] or [B, T, 3u]); each step reads its slice
/// t of it. BPTT still comes from the tape: each step is an ordinary node that reads the states
/// of the step before.
///
/// Layouts are Keras': gate blocks side by side in the last axis of the kernels, in the order
/// i, f, c, o (LSTM) and z, r, h (GRU). `*_step_composed` computes the same step from plain ops
/// (select, matmul, slice, sigmoid, tanh, add, mul): the readable statement of the math, used
/// to test the fused ops and to measure what fusing saves.

#include <tapegrad/core/config.h>

#include <cstdint>

#include <tapegrad/core/tensor.h>

namespace tg {

/// The states an LSTM step returns: h (the output) and the cell state c, [B, u] each.
struct LSTMStepOutput {
  /// h, the step's output, and c, the cell state, [B, u] each.
  /// @{
  Tensor h, c;
  /// @}
};

/// One LSTM step (Keras' LSTMCell with sigmoid recurrent activation and tanh activation):
///
///     z = xw[:, t, :] + h_prev U           [B, 4u], blocks i, f, c, o
///     i = sigmoid(z_i)  f = sigmoid(z_f)  g = tanh(z_c)  o = sigmoid(z_o)
///     c = f * c_prev + i * g               h = o * tanh(c)
///
/// xw = x W + b is [B, T, 4u], U is [u, 4u]; h_prev and c_prev are [B, u], undefined meaning
/// zeros (the first step). One node with two outputs; its backward adds into xw's slice t,
/// h_prev, c_prev and U.
LSTMStepOutput lstm_step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& c_prev, const Tensor& u);

/// One GRU step with the reset gate applied after the recurrent product (Keras' GRUCell with
/// reset_after = true, TF2's default, which is also PyTorch's math):
///
///     hu = h_prev U + bias[1]                  [B, 3u], blocks z, r, h
///     z = sigmoid(xw_z + hu_z)   r = sigmoid(xw_r + hu_r)
///     n = tanh(xw_h + r * hu_h)  h = z * h_prev + (1 - z) * n
///
/// xw = x W + bias[0] is [B, T, 3u] (the input bias already in it), U is [u, 3u], `bias` is
/// Keras' [2, 3u] GRU bias (row 0 input, row 1 recurrent), of which the step reads and
/// differentiates row 1 only; h_prev [B, u], undefined meaning zeros. One node.
Tensor gru_step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u, const Tensor& bias);

/// lstm_step written with plain ops (about 15 nodes): the same numbers, for tests and benchmarks.
LSTMStepOutput lstm_step_composed(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& c_prev,
                                  const Tensor& u);
/// gru_step written with plain ops (about 20 nodes): the same numbers, for tests and benchmarks.
Tensor gru_step_composed(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u, const Tensor& bias);

}  // namespace tg

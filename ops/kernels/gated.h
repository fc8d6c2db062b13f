#pragma once
/// \file
/// The gate math of one LSTM or GRU time step over plain row-major buffers (no tensors, no
/// tape): everything of a step but its GEMMs, forward and backward. `b` rows (the batch) of `u`
/// units each; a null pointer stands for a zero state (the first step) or a gradient nobody
/// asked for. float32 uses the fast tanh/sigmoid of unary.h, float64 the C library. The loops
/// are gated_isa.h, compiled once per instruction-set path and chosen at run time (dispatch.h).

#include <cstdint>

#include <tapegrad/ops/kernels/dispatch.h>

namespace tg::kernels {

/// LSTM forward. `gates` [b, 5u] holds on entry the pre-activations z = x W + b + h_prev U in its
/// first 4u columns (gates i, f, c, o); on exit the activations i = sigmoid, f = sigmoid,
/// g = tanh, o = sigmoid and, in the last u columns, tanh(c). Writes c = f c_prev + i g and
/// h = o tanh(c) ([b, u] each); c_prev may be null (zeros).
template <class T>
void lstm_gates_forward(T* gates, const T* c_prev, T* c, T* h, std::int64_t b, std::int64_t u) {
  detail::active_of<T>().lstm_gates_forward(gates, c_prev, c, h, b, u);
}

/// LSTM backward, from the activations `gates` [b, 5u] of lstm_gates_forward. dh and dc, the
/// gradients of h and c ([b, u]), may be null (none reached them). Writes dz [b, 4u] (rows
/// `ldz` apart; 0 means 4u), the gradient of the pre-activations, and adds f * dc_total into
/// dc_prev when it is not null. c_prev null means zeros.
template <class T>
void lstm_gates_backward(const T* gates, const T* c_prev, const T* dh, const T* dc, T* dz, T* dc_prev, std::int64_t b,
                         std::int64_t u, std::int64_t ldz = 0) {
  detail::active_of<T>().lstm_gates_backward(gates, c_prev, dh, dc, dz, dc_prev, b, u, ldz);
}

/// GRU forward (reset_after, Keras' default in TF2 and PyTorch's math). `xw` rows hold
/// x W + b_input for the gates z, r, h ([b, 3u], rows `ldx` apart). `gates` [b, 4u] holds on
/// entry hu = h_prev U + b_recurrent in its first 3u columns; on exit z, r, n and, in the last u
/// columns, hu's candidate part hn (which backward needs). Writes
/// n = tanh(xh + r hn) and h = z h_prev + (1 - z) n ([b, u]); h_prev may be null (zeros).
template <class T>
void gru_gates_forward(const T* xw, std::int64_t ldx, T* gates, const T* h_prev, T* h, std::int64_t b, std::int64_t u) {
  detail::active_of<T>().gru_gates_forward(xw, ldx, gates, h_prev, h, b, u);
}

/// GRU backward, from the `gates` [b, 4u] of gru_gates_forward and dh [b, u]. Writes dx [b, 3u]
/// (the gradient of x W + b_input) and dhu [b, 3u] (of h_prev U + b_recurrent), both with rows
/// `ld` apart (0 means 3u), and adds z * dh into dh_prev when it is not null. h_prev, with rows
/// `ld_h` apart (0 means u: a scan reads it from its [B, T, u] sequence buffer), null means zeros.
template <class T>
void gru_gates_backward(const T* gates, const T* h_prev, const T* dh, T* dx, T* dhu, T* dh_prev, std::int64_t b,
                        std::int64_t u, std::int64_t ld = 0, std::int64_t ld_h = 0) {
  detail::active_of<T>().gru_gates_backward(gates, h_prev, dh, dx, dhu, dh_prev, b, u, ld, ld_h);
}

}  // namespace tg::kernels

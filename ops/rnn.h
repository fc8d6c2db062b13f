#pragma once
/// \file
/// The fused time step of a tanh RNN: one node per step instead of four (select, matmul, add,
/// tanh). BPTT still comes from the tape: each step is an ordinary node that reads h_{t-1}.

#include <cstdint>

#include "core/tensor.h"

namespace tg {

/// h_t = tanh(xw[:, t, :] + h_prev U), with xw = x W + b precomputed for all steps ([B,T,H]),
/// h_prev [B,H] (undefined means zeros: the first step skips the product) and U [H,H].
Tensor rnn_tanh_step(const Tensor& xw, std::int64_t t, const Tensor& h_prev, const Tensor& u);

}  // namespace tg

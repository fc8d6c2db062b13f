#pragma once
/// \file
/// Unary elementwise math: each forward is a loop in ops/kernels/unary.h, each backward a
/// second loop that reads only what forward saved (tanh and sigmoid keep their output).

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>

namespace tg {

/// x^2, sqrt(x), e^x, ln(x), |x|, tanh(x), 1 / (1 + e^-x), max(x, 0), elementwise.
/// @{
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
/// @}
/// x^p elementwise, p a constant.
Tensor pow(const Tensor& x, double p);
/// min(max(x, lo), hi); the gradient is 1 strictly inside (lo, hi) and 0 outside.
Tensor clamp(const Tensor& x, double lo, double hi);

}  // namespace tg

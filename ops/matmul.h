#pragma once
/// \file
/// Matrix products on top of ops/kernels/gemm.

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>

namespace tg {

/// [M,K] x [K,N] -> [M,N]; [B,M,K] x [B,K,N] -> [B,M,N]; [B,M,K] x [K,N] -> [B,M,N].
Tensor matmul(const Tensor& a, const Tensor& b);
/// x W + b, fused: [..., K] x [K,N] + [N] -> [..., N]. `b` may be undefined (no bias).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

}  // namespace tg

#pragma once
/// \file
/// Layer normalisation over the last axis as one fused op (Keras' LayerNormalization math).

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>

namespace tg {

/// y = (x - mean) / sqrt(var + epsilon) * gamma + beta, with mean and the biased variance taken
/// over the last axis of x [..., D]; gamma and beta are [D]. One node: the backward reads the
/// normalised values and 1/sqrt(var + epsilon) kept by the forward. ShapeError when gamma or beta
/// is not [D]; ValueError for epsilon < 0.
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon = 1e-3);

}  // namespace tg

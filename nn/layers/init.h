#pragma once
/// \file
/// Initialisers with Keras' definitions, each drawing from a seedable Generator so that a run is
/// reproducible (tg::manual_seed sets the default one).

#include <tapegrad/core/config.h>

#include <cstdint>

#include <tapegrad/core/random.h>
#include <tapegrad/core/tensor.h>

namespace tg::init {

/// U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)), for a [fan_in, fan_out] kernel.
Tensor glorot_uniform(std::int64_t fan_in, std::int64_t fan_out, DType dtype = DType::f32, Generator* gen = nullptr);
/// A [rows, cols] matrix with orthonormal columns (or rows, when rows < cols) times `gain`:
/// the Q of the QR decomposition of a standard normal matrix, signs fixed by diag(R) (Keras).
Tensor orthogonal(std::int64_t rows, std::int64_t cols, double gain = 1.0, DType dtype = DType::f32,
                  Generator* gen = nullptr);
/// Uniform in [low, high) (Keras' RandomUniform defaults).
Tensor uniform(const Shape& shape, double low = -0.05, double high = 0.05, DType dtype = DType::f32,
               Generator* gen = nullptr);
/// Normal with `mean` and `stddev` (Keras' RandomNormal defaults).
Tensor normal(const Shape& shape, double mean = 0.0, double stddev = 0.05, DType dtype = DType::f32,
              Generator* gen = nullptr);
/// Zeros (biases).
Tensor zeros(const Shape& shape, DType dtype = DType::f32);

}  // namespace tg::init

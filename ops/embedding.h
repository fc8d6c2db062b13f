#pragma once
/// \file
/// Embedding lookup: rows of a table picked by integer ids (a gather), whose backward adds each
/// output row's gradient into the row it came from (a scatter-add).

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Rows of `weight` [V, D] picked by `ids` (any shape, float32 or float64 elements holding whole
/// numbers in [0, V)): the result has ids' shape plus [D] and weight's dtype. The gradient goes
/// to weight only: a row picked n times collects n contributions (`+=`); ids get none.
/// ValueError naming the first bad id, its index and the valid range when an id is not a whole
/// number or lies outside [0, V); ShapeError when weight is not 2-D or the result would pass
/// kMaxRank.
Tensor embedding(const Tensor& ids, const Tensor& weight);

}  // namespace tg

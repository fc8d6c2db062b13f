#pragma once
/// \file
/// Shape ops: every output is a new contiguous tensor (reshape and flatten share the elements).

#include <span>
#include <vector>

#include "core/tensor.h"

namespace tg {

/// Same elements, new shape; one dimension may be -1 (inferred).
Tensor reshape(const Tensor& x, const std::vector<std::int64_t>& shape);
/// Keeps dimension 0 (the batch) and folds the rest: [B, d1, d2, ...] -> [B, d1*d2*...].
Tensor flatten(const Tensor& x);
/// Swaps two axes.
Tensor transpose(const Tensor& x, int axis0 = -2, int axis1 = -1);
/// Reorders the axes: output axis i is input axis dims[i].
Tensor permute(const Tensor& x, const std::vector<int>& dims);
/// Elements [start, start + length) along `axis`.
Tensor slice(const Tensor& x, int axis, std::int64_t start, std::int64_t length);
/// Index `index` along `axis`, which disappears: select(x[B,T,F], 1, t) is [B,F].
Tensor select(const Tensor& x, int axis, std::int64_t index);
/// Joins tensors of equal shape but along `axis`.
Tensor concat(std::span<const Tensor> xs, int axis);
/// Stacks tensors of equal shape along a new axis.
Tensor stack(std::span<const Tensor> xs, int axis);
/// Expands size-1 (or missing leading) dimensions to `shape` (numpy rules).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace tg

#pragma once
/// \file
/// Shape ops: every output is a new contiguous tensor (reshape and flatten share the elements).

#include <tapegrad/core/config.h>

#include <initializer_list>
#include <span>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Same elements, new shape; one dimension may be -1 (inferred). The result shares the elements
/// with `x` (a view); ShapeError when the element counts differ, ValueError for other negatives.
Tensor reshape(const Tensor& x, const std::vector<std::int64_t>& shape);
/// The same for a braced list, `reshape(x, {B, -1})`, without building a vector.
Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> shape);
/// The same for a span of sizes.
Tensor reshape(const Tensor& x, std::span<const std::int64_t> shape);
/// Keeps dimension 0 (the batch) and folds the rest: [B, d1, d2, ...] -> [B, d1*d2*...]
/// ([B] -> [B,1]). Shares the elements like reshape; ShapeError on a scalar.
Tensor flatten(const Tensor& x);
/// Swaps two axes.
Tensor transpose(const Tensor& x, int axis0 = -2, int axis1 = -1);
/// Reorders the axes: output axis i is input axis dims[i].
Tensor permute(const Tensor& x, const std::vector<int>& dims);
/// The same for a braced list or a span of axes.
/// @{
Tensor permute(const Tensor& x, std::initializer_list<int> dims);
Tensor permute(const Tensor& x, std::span<const int> dims);
/// @}
/// Elements [start, start + length) along `axis`; a negative start counts from the end.
/// ValueError when the range does not lie within the axis.
Tensor slice(const Tensor& x, int axis, std::int64_t start, std::int64_t length);
/// Index `index` along `axis`, which disappears: select(x[B,T,F], 1, t) is [B,F]. A negative
/// index counts from the end: select(x, 1, -1) is the last time step.
Tensor select(const Tensor& x, int axis, std::int64_t index);
/// Joins tensors of equal shape but along `axis`. The list must not be empty and hold one dtype.
Tensor concat(std::span<const Tensor> xs, int axis);
/// Stacks tensors of equal shape along a new axis (in [-(rank+1), rank]).
Tensor stack(std::span<const Tensor> xs, int axis);
/// Expands size-1 (or missing leading) dimensions to `shape` (numpy rules).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace tg

#pragma once
/// \file
/// Reductions over all elements or over axes (negative axes count from the end).

#include <tapegrad/core/config.h>

#include <initializer_list>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Sum of all elements: a tensor of shape [].
Tensor sum(const Tensor& x);
/// Sum over `axes`; with keepdim the reduced axes stay with size 1. An empty `axes` reduces
/// nothing (numpy's `axis=()`); a repeated or out-of-range axis is a ValueError.
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
/// The same for a braced list, `sum(x, {0, -1})`, without building a vector.
Tensor sum(const Tensor& x, std::initializer_list<int> axes, bool keepdim = false);
/// Mean of all elements (NaN for an empty tensor, as numpy).
Tensor mean(const Tensor& x);
/// Mean over `axes`, with the same rules as sum.
Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
/// The same for a braced list of axes.
Tensor mean(const Tensor& x, std::initializer_list<int> axes, bool keepdim = false);
/// Maximum of all elements; the gradient goes to the first maximal element. A NaN counts as
/// maximal (it propagates). ValueError on an empty tensor.
Tensor max(const Tensor& x);
/// Maximum along one axis; the gradient goes to the first maximal element of each slice.
Tensor max(const Tensor& x, int axis, bool keepdim = false);

}  // namespace tg

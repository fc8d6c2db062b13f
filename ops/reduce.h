#pragma once
/// \file
/// Reductions over all elements or over axes (negative axes count from the end).

#include <vector>

#include "core/tensor.h"

namespace tg {

/// Sum of all elements: a tensor of shape [].
Tensor sum(const Tensor& x);
/// Sum over `axes`; with keepdim the reduced axes stay with size 1.
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
/// Maximum of all elements; the gradient goes to the first maximal element.
Tensor max(const Tensor& x);
/// Maximum along one axis; the gradient goes to the first maximal element of each slice.
Tensor max(const Tensor& x, int axis, bool keepdim = false);

}  // namespace tg

#pragma once
/// \file
/// Masks of padded sequences: a mask is a [batch, time] tensor of 1 (a real step) and 0 (padding),
/// not differentiated. The functions that make one are unrecorded; `masked_update` is the one
/// differentiable op: it lets a recurrent layer keep its state across padded steps.

#include <tapegrad/core/config.h>

#include <cstdint>

#include <tapegrad/core/tensor.h>

namespace tg {

/// 1 where x != value and 0 where x == value, same shape and dtype as x (the mask of Keras'
/// Embedding(mask_zero) for ids [B, T] and value 0). Unrecorded.
Tensor mask_not_equal(const Tensor& x, double value);

/// For x [B, T, F]: 1 at the steps where some feature differs from `value`, else 0; shape [B, T]
/// (Keras' Masking layer). Unrecorded. ShapeError unless x has rank 3.
Tensor mask_any_not_equal(const Tensor& x, double value);

/// Row b of the result is update[b] where mask[b, t] != 0 and previous[b] where it is 0:
/// `update` and `previous` are [B, ...] of one shape and dtype; an undefined `previous` means
/// zeros (the state before the first step). The gradient goes to update's kept rows and to
/// previous' other rows; the mask (any float dtype, [B, T]) gets none.
/// ShapeError/DTypeError for mismatched operands, ValueError for t outside [0, T).
Tensor masked_update(const Tensor& mask, std::int64_t t, const Tensor& update, const Tensor& previous);

/// ShapeError naming `who` unless mask is [x.size(0), x.size(1)] (a mask for x [B, T, ...]).
void check_sequence_mask(const Tensor& mask, const Tensor& x, const char* who);

}  // namespace tg

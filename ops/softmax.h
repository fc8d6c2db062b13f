#pragma once
/// \file
/// Softmax and log-softmax along one axis, computed stably (the maximum of each slice is
/// subtracted before exponentiating, so logits of +-1000 give finite results).

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>

namespace tg {

/// exp(x - max) / sum(exp(x - max)) along `axis` (negative counts from the end). Same shape as x.
/// ValueError when that axis is empty.
Tensor softmax(const Tensor& x, int axis = -1);

/// x - log(sum(exp(x))) along `axis`, by the log-sum-exp trick: finite wherever x is. Same shape
/// as x. ValueError when that axis is empty.
Tensor log_softmax(const Tensor& x, int axis = -1);

}  // namespace tg

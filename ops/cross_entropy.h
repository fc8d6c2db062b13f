#pragma once
/// \file
/// Cross-entropy losses for classification, as plain differentiable functions of (targets,
/// prediction), Keras' (y_true, y_pred) order like every loss in tapegrad, each one node on the tape and numerically
/// stable: from logits they use the log-sum-exp form, so logits of +-100 give finite losses and gradients; from
/// probabilities they clip as Keras does (epsilon 1e-7).

#include <tapegrad/core/config.h>

#include <cstdint>
#include <optional>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Keras' backend epsilon, the clipping margin of the losses computed from probabilities.
inline constexpr double kProbabilityEpsilon = 1e-7;

/// Mean over all items of -log p(target), for class scores `pred` [..., C] (logits, or
/// probabilities when from_logits is false) and integer class ids `targets` of the leading shape
/// [...], stored as a float tensor: logits [N, C] with targets [N], or [B, T, C] with [B, T].
/// From logits: logsumexp(pred) - pred[target], as torch.nn.functional.cross_entropy. From
/// probabilities: Keras' form, each p clipped to [1e-7, 1 - 1e-7] and the row renormalised.
/// Items whose target equals `ignore_class` (a padding id) count neither in the sum nor in the
/// mean, like PyTorch's ignore_index; when every item is ignored the loss is 0 (PyTorch: NaN).
/// The gradient flows to `pred` only.
///
/// ShapeError when pred is a scalar or targets' shape is not pred's without its last axis;
/// ValueError for a class id that is not an integer in [0, C) (nor ignore_class), naming it.
Tensor sparse_categorical_crossentropy(const Tensor& targets, const Tensor& pred, bool from_logits = true,
                                       std::optional<std::int64_t> ignore_class = std::nullopt);

/// Mean over all elements of the binary cross-entropy between `pred` and `target` in [0, 1], of
/// equal shape and dtype. From logits: max(x, 0) - x t + log(1 + exp(-|x|)), finite for any
/// logit (torch's binary_cross_entropy_with_logits). From probabilities (the default, as Keras):
/// p clipped to [1e-7, 1 - 1e-7], then -(t log(p + 1e-7) + (1 - t) log(1 - p + 1e-7)).
/// The gradient flows to both (to `target` if it requires one).
/// ShapeError unless the shapes are equal, DTypeError unless the dtypes are.
Tensor binary_crossentropy(const Tensor& target, const Tensor& pred, bool from_logits = false);

}  // namespace tg

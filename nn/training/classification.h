#pragma once
/// \file
/// Classification for fit and evaluate: the cross-entropy losses of ops/cross_entropy.h in
/// Keras' (y_true, y_pred) order, and Keras' "accuracy" metric.
///
///     tg::fit(model, x, y, {.optimizer = &adam,
///                           .loss = tg::sparse_categorical_crossentropy_loss(/*from_logits=*/true),
///                           .metrics = {tg::accuracy(/*from_logits=*/true)},
///                           .validation_data = std::pair{xv, yv}});
///     // History: "loss", "accuracy", "val_loss", "val_accuracy"

#include <tapegrad/core/config.h>

#include <cstdint>
#include <optional>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/training/losses.h>

namespace tg {

/// Keras' SparseCategoricalCrossentropy as a fit loss: y_true holds class ids [...] (a float
/// tensor of integer values), y_pred class scores [..., C]. Items whose id is `ignore_class` (a
/// padding id) are left out of the mean. See tg::sparse_categorical_crossentropy for the math
/// and the errors.
LossFn sparse_categorical_crossentropy_loss(bool from_logits = true,
                                            std::optional<std::int64_t> ignore_class = std::nullopt);

/// Keras' BinaryCrossentropy as a fit loss: y_true in [0, 1] and y_pred of the same shape
/// (logits, or probabilities when from_logits is false). See tg::binary_crossentropy.
LossFn binary_crossentropy_loss(bool from_logits = false);

/// The fraction of elements where (y_pred > threshold) equals (y_true > 0.5): Keras'
/// binary_accuracy. y_pred has y_true's shape, or that shape with a last axis of 1.
Tensor binary_accuracy(const Tensor& y_true, const Tensor& y_pred, double threshold = 0.5);

/// The fraction of items whose largest score in y_pred [..., C] (the first on ties) is at the
/// class id in y_true [...]; items whose id is `ignore_class` are left out (0 when none is left).
Tensor sparse_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred,
                                   std::optional<std::int64_t> ignore_class = std::nullopt);

/// Keras' "accuracy" metric, reported as "accuracy" (and "val_accuracy" by fit). It picks the
/// kind from the shapes, as Keras does: binary when y_pred has y_true's shape (or that shape
/// with a last axis of 1), thresholded at 0.5 on probabilities or at 0 on logits (from_logits);
/// sparse categorical (argmax) when y_pred has one more axis than y_true. ShapeError otherwise.
Metric accuracy(bool from_logits = false, std::optional<std::int64_t> ignore_class = std::nullopt);

}  // namespace tg

#pragma once
/// \file
/// Gradient clipping, applied between backward and Optimizer::step. Parameters whose gradient is
/// undefined are skipped.

#include <tapegrad/core/config.h>

#include <span>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Scales all gradients together so that their global L2 norm (the norm of all gradient elements
/// taken as one vector) is at most `max_norm`, as torch.nn.utils.clip_grad_norm_: when the norm
/// exceeds max_norm, every gradient is multiplied by max_norm / (norm + 1e-6). Returns the norm
/// before clipping. A non-finite norm (a NaN or Inf gradient) is returned and nothing is scaled,
/// so the caller can see it. ValueError unless max_norm > 0 (infinity only measures the norm).
double clip_grad_norm(std::span<const Tensor> params, double max_norm);

/// Clamps every gradient element to [-clip_value, clip_value] (a NaN stays NaN). ValueError
/// unless clip_value > 0 and finite.
void clip_grad_value(std::span<const Tensor> params, double clip_value);

}  // namespace tg

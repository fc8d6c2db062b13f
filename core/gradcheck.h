#pragma once
/// \file
/// The gradient checker: compares backward with central finite differences in float64. Every op,
/// layer and unrolled RNN in the tests goes through it, and so can a user's own op.

#include <tapegrad/core/config.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Step and tolerances of gradcheck: an element passes when |analytic - numeric| <=
/// atol + rtol * |numeric|.
struct GradcheckOptions {
  double eps = 1e-6;          ///< finite-difference step
  double atol = 1e-7;         ///< absolute tolerance
  double rtol = 1e-5;         ///< relative tolerance (against the numeric value)
  std::uint32_t seed = 1234;  ///< for the random projection of non-scalar outputs
};

/// The verdict of gradcheck; converts to bool.
struct GradcheckResult {
  /// Whether every gradient element matched.
  bool ok = true;
  /// The largest |analytic - numeric| seen.
  double max_abs_error = 0.0;
  std::string message;  ///< names the first mismatching input and element
  /// `ok`.
  explicit operator bool() const { return ok; }
};

/// Checks the gradient of `f` with respect to each of `inputs` (float64 tensors). The output of
/// `f` may have any shape: it is projected on a fixed random tensor `r`, and backward is seeded
/// with `r`. Inputs are copied; `f` must be deterministic.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

/// The same with respect to tensors `f` reads by itself (a module's parameters, say): each
/// must be a float64 leaf; it is marked requires_grad, its gradient is reset, and its elements
/// are perturbed in place and restored.
GradcheckResult gradcheck_leaves(const std::function<Tensor()>& f, const std::vector<Tensor>& leaves,
                                 const GradcheckOptions& options = {});

}  // namespace tg

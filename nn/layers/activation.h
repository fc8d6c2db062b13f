#pragma once
/// \file
/// Activations by name, as Keras' `activation=` argument: a name for summaries and a function.

#include <tapegrad/core/config.h>

#include <tapegrad/core/tensor.h>
#include <tapegrad/ops/unary.h>

namespace tg {

/// An elementwise activation of a layer: a name (for summaries and files) and a function.
struct Activation {
  /// "linear", "tanh", ...
  const char* name = "linear";
  Tensor (*fn)(const Tensor&) = nullptr;  ///< null: identity
  /// fn(x), or x for the identity.
  Tensor operator()(const Tensor& x) const { return fn ? fn(x) : x; }
  /// The same function.
  bool operator==(const Activation& o) const { return fn == o.fn; }
};

namespace activations {
/// The identity.
inline const Activation linear{"linear", nullptr};
/// tg::tanh.
inline const Activation tanh{"tanh", &tg::tanh};
/// tg::sigmoid.
inline const Activation sigmoid{"sigmoid", &tg::sigmoid};
/// tg::relu.
inline const Activation relu{"relu", &tg::relu};
}  // namespace activations

}  // namespace tg

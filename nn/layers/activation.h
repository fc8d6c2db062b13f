#pragma once
/// \file
/// Activations by name, as Keras' `activation=` argument: a name for summaries and a function.

#include <tapegrad/core/config.h>

#include <string_view>

#include <tapegrad/core/tensor.h>
#include <tapegrad/ops/softmax.h>
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

namespace detail {
/// tg::softmax over the last axis, as a function of one argument.
inline Tensor softmax_last_axis(const Tensor& x) { return tg::softmax(x, -1); }
}  // namespace detail

namespace activations {
/// The identity.
inline const Activation linear{"linear", nullptr};
/// tg::tanh.
inline const Activation tanh{"tanh", &tg::tanh};
/// tg::sigmoid.
inline const Activation sigmoid{"sigmoid", &tg::sigmoid};
/// tg::relu.
inline const Activation relu{"relu", &tg::relu};
/// tg::softmax over the last axis (Keras' "softmax": each row of Dense's output sums to 1).
inline const Activation softmax{"softmax", &detail::softmax_last_axis};
}  // namespace activations

/// The built-in activation called `name` ("linear", "tanh", "sigmoid", "relu", "softmax"), as
/// Keras' activation strings. ValueError listing the names for any other (escaped).
Activation activation_from_name(std::string_view name);

}  // namespace tg

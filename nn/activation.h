#pragma once
/// \file
/// Activations by name, as Keras' `activation=` argument: a name for summaries and a function.

#include "core/tensor.h"
#include "ops/unary.h"

namespace tg {

struct Activation {
  const char* name = "linear";
  Tensor (*fn)(const Tensor&) = nullptr;  ///< null: identity
  Tensor operator()(const Tensor& x) const { return fn ? fn(x) : x; }
  bool operator==(const Activation& o) const { return fn == o.fn; }
};

namespace activations {
inline const Activation linear{"linear", nullptr};
inline const Activation tanh{"tanh", &tg::tanh};
inline const Activation sigmoid{"sigmoid", &tg::sigmoid};
inline const Activation relu{"relu", &tg::relu};
}  // namespace activations

}  // namespace tg

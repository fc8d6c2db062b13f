#include <tapegrad/nn/layers/activation.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tg {

Activation activation_from_name(std::string_view name) {
  for (const Activation* a :
       {&activations::linear, &activations::tanh, &activations::sigmoid, &activations::relu, &activations::softmax})
    if (name == a->name) return *a;
  throw ValueError(
      fmt::format("activation '{}' is not one of linear, tanh, sigmoid, relu, softmax", escape_for_message(name)));
}

}  // namespace tg

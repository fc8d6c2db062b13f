#include <tapegrad/nn/layers/dense.h>

#include <fmt/format.h>

#include <tapegrad/nn/layers/layer_registry.h>

#include <tapegrad/nn/layers/init.h>
#include <tapegrad/ops/matmul.h>
#include <tapegrad/ops/shape_ops.h>

namespace tg {

Dense::Dense(std::int64_t units, Activation activation) : Module("Dense"), units_(units), activation_(activation) {
  if (units <= 0) throw ValueError(fmt::format("Dense: units must be positive, got {}", units));
}

Dense::Dense(std::int64_t input_features, std::int64_t units, Activation activation) : Dense(units, activation) {
  build({-1, input_features});
}

Dims Dense::on_build(const Dims& input) {
  if (input.size() < 2 || input.back() <= 0)
    throw ShapeError(fmt::format("Dense: input {} needs a known last dimension (features)", dims_str(input)));
  kernel = register_parameter("kernel", init::glorot_uniform(input.back(), units_));
  bias = register_parameter("bias", init::zeros({units_}));
  Dims out = input;
  out.back() = units_;
  return out;
}

Tensor Dense::forward(const Tensor& x) {
  if (!built()) build({-1, x.rank() ? x.size(-1) : 0});
  if (x.rank() < 2 || x.size(-1) != kernel.size(0))
    throw ShapeError(
        fmt::format("Dense ({}): input {}, expected [..., {}] (rank >= 2)", name(), x.shape(), kernel.size(0)));
  return activation_(linear(x, kernel, bias));
}

Dims Flatten::on_build(const Dims& input) {
  std::int64_t n = 1;
  for (std::size_t i = 1; i < input.size(); ++i) n = input[i] < 0 || n < 0 ? -1 : n * input[i];
  return {input.empty() ? -1 : input[0], n};
}

Tensor Flatten::forward(const Tensor& x) {
  if (x.rank() < 1) throw ShapeError(fmt::format("Flatten: input {} needs a batch dimension", x.shape()));
  return flatten(x);
}

std::shared_ptr<Module> Dense::clone_unbuilt() const { return std::make_shared<Dense>(units_, activation_); }

std::optional<Json> Dense::config() const {
  return Json::object().set("units", units_).set("activation", activation_config(activation_, *this));
}

std::shared_ptr<Module> Flatten::clone_unbuilt() const { return std::make_shared<Flatten>(); }

std::optional<Json> Flatten::config() const { return Json::object(); }

}  // namespace tg

#include <tapegrad/nn/recurrent/ln_rnn.h>

#include <fmt/format.h>

#include <tapegrad/nn/layers/init.h>
#include <tapegrad/nn/layers/layer_registry.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/matmul.h>
#include <tapegrad/ops/shape_ops.h>

namespace tg {

LNSimpleRNNCell::LNSimpleRNNCell(std::int64_t units, Activation activation)
    : RecurrentCell("LNSimpleRNNCell"), units_(units), activation_(activation) {
  if (units <= 0) throw ValueError(fmt::format("LNSimpleRNNCell: units must be positive, got {}", units));
}

Dims LNSimpleRNNCell::on_build(const Dims& input) {
  if (input.empty() || input.back() <= 0)
    throw ShapeError(fmt::format("LNSimpleRNNCell: input {} needs a known number of features", dims_str(input)));
  kernel = register_parameter("kernel", init::glorot_uniform(input.back(), units_));
  recurrent_kernel = register_parameter("recurrent_kernel", init::orthogonal(units_, units_));
  bias = register_parameter("bias", init::zeros({units_}));
  layer_norm = register_module("layer_norm", std::make_shared<LayerNormalization>(units_, 1e-3));
  return {-1, units_};
}

Tensor LNSimpleRNNCell::prepare(const Tensor& x) { return linear(x, kernel, bias); }

States LNSimpleRNNCell::step(const Tensor& xw, std::int64_t t, const States& states) {
  Tensor z = select(xw, 1, t);
  if (states.at(0).defined()) z = z + matmul(states[0], recurrent_kernel);
  return {activation_((*layer_norm)(z))};
}

std::shared_ptr<Module> LNSimpleRNNCell::clone_unbuilt() const {
  return std::make_shared<LNSimpleRNNCell>(units_, activation_);
}

std::optional<Json> LNSimpleRNNCell::config() const {
  return Json::object().set("units", units_).set("activation", activation_config(activation_, *this));
}

}  // namespace tg

#include <tapegrad/nn/recurrent/gru.h>

#include <fmt/format.h>

#include <tapegrad/nn/layers/init.h>
#include <tapegrad/nn/layers/layer_registry.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/gated.h>
#include <tapegrad/ops/matmul.h>
#include <tapegrad/ops/rnn.h>
#include <tapegrad/ops/shape_ops.h>
#include <tapegrad/ops/unary.h>

namespace tg {

GRUCell::GRUCell(std::int64_t units, GRUOptions options) : RecurrentCell("GRUCell"), units_(units), options_(options) {
  if (units <= 0) throw ValueError(fmt::format("GRUCell: units must be positive, got {}", units));
}

Dims GRUCell::on_build(const Dims& input) {
  if (input.empty() || input.back() <= 0)
    throw ShapeError(fmt::format("GRUCell: input {} needs a known number of features", dims_str(input)));
  kernel = register_parameter("kernel", init::glorot_uniform(input.back(), 3 * units_));
  recurrent_kernel = register_parameter("recurrent_kernel", init::orthogonal(units_, 3 * units_));
  bias = register_parameter("bias", options_.reset_after ? init::zeros({2, 3 * units_}) : init::zeros({3 * units_}));
  return {-1, units_};
}

// [B,T,F] -> [B,T,3u] with the input bias (row 0); the step adds the recurrent row itself.
Tensor GRUCell::prepare(const Tensor& x) { return linear(x, kernel, options_.reset_after ? select(bias, 0, 0) : bias); }

States GRUCell::step(const Tensor& xw, std::int64_t t, const States& states) {
  if (options_.reset_after) return {gru_step(xw, t, states.at(0), recurrent_kernel, bias)};
  // reset_after = false: r multiplies h before U_h. [B,3u] blocks z, r, h.
  const std::int64_t u = units_;
  Tensor x_t = select(xw, 1, t);
  Tensor h = zeros_if_undefined(states.at(0), x_t.size(0), u, x_t.dtype());
  Tensor zr = sigmoid(slice(x_t, 1, 0, 2 * u) + matmul(h, slice(recurrent_kernel, 1, 0, 2 * u)));  // [B,2u]
  Tensor z = slice(zr, 1, 0, u), r = slice(zr, 1, u, u);
  Tensor n = tg::tanh(slice(x_t, 1, 2 * u, u) + matmul(r * h, slice(recurrent_kernel, 1, 2 * u, u)));
  return {n + z * (h - n)};  // z h + (1 - z) n
}

ScanResult GRUCell::scan(const Tensor& xw, const States& initial, const ScanOptions& options) {
  if (!options_.reset_after || options.mask.defined()) return RecurrentCell::scan(xw, initial, options);
  ScanOutput r =
      gru_scan(xw, initial.at(0), recurrent_kernel, bias,
               {.reverse = options.reverse, .sequence = options.return_sequence, .outputs = options.outputs});
  return {{std::move(r.h)}, std::move(r.sequence)};
}

std::shared_ptr<Module> GRUCell::clone_unbuilt() const { return std::make_shared<GRUCell>(units_, options_); }

std::optional<Json> GRUCell::config() const {
  return Json::object().set("units", units_).set("reset_after", options_.reset_after);
}

GRU::GRU(std::int64_t units, RNNOptions options, GRUOptions gru)
    : RNN("GRU", std::make_shared<GRUCell>(units, gru), options) {}

std::shared_ptr<Module> GRU::clone_unbuilt() const {
  const auto& c = static_cast<const GRUCell&>(cell());
  return std::make_shared<GRU>(c.units(), options(), GRUOptions{.reset_after = c.reset_after()});
}

std::optional<Json> GRU::config() const {
  const auto& c = static_cast<const GRUCell&>(cell());
  return rnn_options_config(options()).set("units", c.units()).set("reset_after", c.reset_after());
}

}  // namespace tg

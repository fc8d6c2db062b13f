#include <tapegrad/nn/recurrent/gru.h>

#include <fmt/format.h>

#include <tapegrad/nn/layers/init.h>
#include <tapegrad/ops/gated.h>
#include <tapegrad/ops/matmul.h>
#include <tapegrad/ops/shape_ops.h>

namespace tg {

GRUCell::GRUCell(std::int64_t units) : RecurrentCell("GRUCell"), units_(units) {
  if (units <= 0) throw ValueError(fmt::format("GRUCell: units must be positive, got {}", units));
}

Dims GRUCell::on_build(const Dims& input) {
  if (input.empty() || input.back() <= 0)
    throw ShapeError(fmt::format("GRUCell: input {} needs a known number of features", dims_str(input)));
  kernel = register_parameter("kernel", init::glorot_uniform(input.back(), 3 * units_));
  recurrent_kernel = register_parameter("recurrent_kernel", init::orthogonal(units_, 3 * units_));
  bias = register_parameter("bias", init::zeros({2, 3 * units_}));
  return {-1, units_};
}

// [B,T,F] -> [B,T,3u] with the input bias (row 0); the step adds the recurrent row itself.
Tensor GRUCell::prepare(const Tensor& x) { return linear(x, kernel, select(bias, 0, 0)); }

States GRUCell::step(const Tensor& xw, std::int64_t t, const States& states) {
  return {gru_step(xw, t, states.at(0), recurrent_kernel, bias)};
}

GRU::GRU(std::int64_t units, RNNOptions options) : RNN("GRU", std::make_shared<GRUCell>(units), options) {}

}  // namespace tg

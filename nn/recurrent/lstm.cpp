#include <tapegrad/nn/recurrent/lstm.h>

#include <fmt/format.h>

#include <tapegrad/nn/layers/init.h>
#include <tapegrad/ops/gated.h>
#include <tapegrad/ops/matmul.h>
#include <tapegrad/ops/rnn.h>

namespace tg {

LSTMCell::LSTMCell(std::int64_t units) : RecurrentCell("LSTMCell"), units_(units) {
  if (units <= 0) throw ValueError(fmt::format("LSTMCell: units must be positive, got {}", units));
}

Dims LSTMCell::on_build(const Dims& input) {
  if (input.empty() || input.back() <= 0)
    throw ShapeError(fmt::format("LSTMCell: input {} needs a known number of features", dims_str(input)));
  kernel = register_parameter("kernel", init::glorot_uniform(input.back(), 4 * units_));
  recurrent_kernel = register_parameter("recurrent_kernel", init::orthogonal(units_, 4 * units_));
  Tensor b = init::zeros({4 * units_});
  float* f = b.data<float>() + units_;  // unit_forget_bias: the forget block starts at 1
  for (std::int64_t j = 0; j < units_; ++j) f[j] = 1.0f;
  bias = register_parameter("bias", b);
  return {-1, units_};
}

Tensor LSTMCell::prepare(const Tensor& x) { return linear(x, kernel, bias); }  // [B,T,F] -> [B,T,4u]

States LSTMCell::step(const Tensor& xw, std::int64_t t, const States& states) {
  LSTMStepOutput s = lstm_step(xw, t, states.at(0), states.at(1), recurrent_kernel);
  return {std::move(s.h), std::move(s.c)};
}

ScanResult LSTMCell::scan(const Tensor& xw, const States& initial, const ScanOptions& options) {
  if (options.mask.defined()) return RecurrentCell::scan(xw, initial, options);
  LSTMScanOutput r =
      lstm_scan(xw, initial.at(0), initial.at(1), recurrent_kernel,
                {.reverse = options.reverse, .sequence = options.return_sequence, .outputs = options.outputs});
  return {{std::move(r.h), std::move(r.c)}, std::move(r.sequence)};
}

LSTM::LSTM(std::int64_t units, RNNOptions options) : RNN("LSTM", std::make_shared<LSTMCell>(units), options) {}

std::shared_ptr<Module> LSTMCell::clone_unbuilt() const { return std::make_shared<LSTMCell>(units_); }

std::optional<Json> LSTMCell::config() const { return Json::object().set("units", units_); }

std::shared_ptr<Module> LSTM::clone_unbuilt() const {
  return std::make_shared<LSTM>(static_cast<const LSTMCell&>(cell()).units(), options());
}

std::optional<Json> LSTM::config() const {
  return rnn_options_config(options()).set("units", static_cast<const LSTMCell&>(cell()).units());
}

}  // namespace tg

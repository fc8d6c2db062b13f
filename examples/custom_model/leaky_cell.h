#pragma once
// A user-written recurrent cell: a leaky RNN, h_t = (1 - a) h_{t-1} + a tanh(x_t W + h_{t-1} U + b),
// with a learned leak a = sigmoid(r). It plugs into tg::RNN and so works in stacks, seq2seq
// models and TimeDistributed, and backpropagation through time comes from the tape.

#include <tapegrad/tapegrad.h>

class LeakyCell : public tg::RecurrentCell {
 public:
  explicit LeakyCell(std::int64_t units) : RecurrentCell("LeakyCell"), units_(units) {}

  std::vector<std::int64_t> state_sizes() const override { return {units_}; }

  // Once for all time steps: x W + b as one GEMM, [B, T, F] -> [B, T, units].
  tg::Tensor prepare(const tg::Tensor& x) override { return tg::linear(x, kernel, bias); }

  tg::States step(const tg::Tensor& xw, std::int64_t t, const tg::States& states) override {
    tg::Tensor h = zeros_if_undefined(states[0], xw.size(0), units_, xw.dtype());
    tg::Tensor a = tg::sigmoid(leak);
    tg::Tensor candidate = tg::tanh(tg::select(xw, 1, t) + tg::matmul(h, recurrent_kernel));
    return {h + a * (candidate - h)};
  }

  tg::Tensor kernel, recurrent_kernel, bias, leak;

 protected:
  tg::Dims on_build(const tg::Dims& input) override {
    kernel = register_parameter("kernel", tg::init::glorot_uniform(input.back(), units_));
    recurrent_kernel = register_parameter("recurrent_kernel", tg::init::orthogonal(units_, units_));
    bias = register_parameter("bias", tg::init::zeros({units_}));
    leak = register_parameter("leak", tg::zeros({units_}));  // a = 0.5 at the start
    return {-1, units_};
  }

 private:
  std::int64_t units_;
};

// A model of its own: a leaky recurrent layer, then a SimpleRNN, then Dense(1); forward is three lines.
struct LeakyForecaster : tg::Module {
  LeakyForecaster() : Module("LeakyForecaster") {
    leaky = register_module(
        "leaky", std::make_shared<tg::RNN>(std::make_shared<LeakyCell>(16), tg::RNNOptions{.return_sequences = true}));
    rnn = register_module("rnn", std::make_shared<tg::SimpleRNN>(16));
    out = register_module("out", std::make_shared<tg::Dense>(16, 1));
    build({-1, -1, 1});
  }
  tg::Tensor forward(const tg::Tensor& x) override { return (*out)((*rnn)((*leaky)(x))); }

  std::shared_ptr<tg::RNN> leaky;
  std::shared_ptr<tg::SimpleRNN> rnn;
  std::shared_ptr<tg::Dense> out;

 protected:
  tg::Dims on_build(const tg::Dims& input) override { return out->build(rnn->build(leaky->build(input))); }
};

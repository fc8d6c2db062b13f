#pragma once
// A user-defined differentiable op: softplus(x) = log(1 + exp(x)), written as a tg::Function
// with its own forward and backward. The gradient checker verifies it like any built-in op
// (tests/examples/custom_op_test.cpp).

#include <tapegrad/tapegrad.h>

struct Softplus : tg::Function<Softplus> {
  static constexpr const char* name = "softplus";

  // log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): never overflows.
  static tg::Tensor forward(tg::FunctionCtx& ctx, const tg::Tensor& x) {
    ctx.save_for_backward({x});
    return tg::relu(x) + tg::log(1.0 + tg::exp(-tg::abs(x)));
  }

  // d softplus / dx = sigmoid(x).
  static tg::tensor_list backward(tg::FunctionCtx& ctx, const tg::tensor_list& grads) {
    const tg::Tensor& x = ctx.saved_tensors()[0];
    return {grads[0] * tg::sigmoid(x)};
  }
};

inline tg::Tensor softplus(const tg::Tensor& x) { return Softplus::apply(x); }

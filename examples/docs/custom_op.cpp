#include <tapegrad/tapegrad.h>

// softsign(x) = x / (1 + |x|), with its own backward: d/dx = 1 / (1 + |x|)^2.
struct Softsign : tg::Function<Softsign> {
  static constexpr const char* name = "softsign";  // names the op in errors and graph exports

  // Runs without recording: the ops inside are not on the tape, only one "softsign" node is.
  static tg::Tensor forward(tg::FunctionCtx& ctx, const tg::Tensor& x) {
    ctx.save_for_backward({x});  // keep what backward needs, nothing more
    return x / (1.0 + tg::abs(x));
  }

  // One gradient per Tensor input of forward, from the gradient of the output.
  static tg::tensor_list backward(tg::FunctionCtx& ctx, const tg::tensor_list& grads) {
    const tg::Tensor& x = ctx.saved_tensors()[0];
    return {grads[0] / tg::square(1.0 + tg::abs(x))};
  }
};

inline tg::Tensor softsign(const tg::Tensor& x) { return Softsign::apply(x); }

// Two inputs and a plain number: a * x + (1 - a) * y, the blend weight a kept in saved_data.
struct Blend : tg::Function<Blend> {
  static constexpr const char* name = "blend";
  static tg::Tensor forward(tg::FunctionCtx& ctx, const tg::Tensor& x, const tg::Tensor& y, double a) {
    ctx.saved_data["a"] = a;
    return a * x + (1.0 - a) * y;
  }
  static tg::tensor_list backward(tg::FunctionCtx& ctx, const tg::tensor_list& grads) {
    double a = ctx.saved_data["a"];
    tg::Tensor gx = ctx.needs_input_grad(0) ? grads[0] * a : tg::Tensor();  // undefined: none
    tg::Tensor gy = ctx.needs_input_grad(1) ? grads[0] * (1.0 - a) : tg::Tensor();
    return {gx, gy};
  }
};

int main() {
  using namespace tg;
  Generator g(1);
  // The gradient checker compares backward with central differences, in float64.
  GradcheckResult s =
      gradcheck([](const std::vector<Tensor>& in) { return softsign(in[0]); }, {randn({3, 4}, DType::f64, &g)});
  GradcheckResult b = gradcheck([](const std::vector<Tensor>& in) { return Blend::apply(in[0], in[1], 0.3); },
                                {randn({2, 5}, DType::f64, &g), randn({2, 5}, DType::f64, &g)});
  fmt::print("gradcheck softsign: {}, blend: {}\n", s.ok ? "ok" : s.message, b.ok ? "ok" : b.message);

  // In a computation like any built-in op; backward reaches w through it.
  Tensor x = randn({8, 3}, DType::f32, &g);
  Tensor w = randn({3, 2}, DType::f32, &g).requires_grad_();
  Tensor loss = mean(softsign(matmul(x, w)));
  loss.backward();
  fmt::print("loss {:.5f}, dloss/dw {}\n", loss.item(), w.grad());
  return s.ok && b.ok ? 0 : 1;
}

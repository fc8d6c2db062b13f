#include <cmath>
#include <tapegrad/tapegrad.h>

// swish(x) = x * sigmoid(x) as one loop over the elements in forward and one in backward, for
// float32 and float64 alike. Composed of ops it would record two nodes (sigmoid, mul), each
// with its own temporary forward and its own backward pass.
struct Swish : tg::Function<Swish> {
  static constexpr const char* name = "swish";

  // sigmoid without overflow: exp is only taken of a number <= 0.
  template <class T>
  static T stable_sigmoid(T x) {
    T e = std::exp(-std::abs(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
  }

  static tg::Tensor forward(tg::FunctionCtx& ctx, const tg::Tensor& x) {
    ctx.save_for_backward({x});  // backward recomputes sigmoid(x): x is all it keeps
    tg::Tensor y = tg::empty(x.shape(), x.dtype());
    // dispatch calls the lambda with T = float or double, as x.dtype() says; data<T>() is the
    // contiguous row-major buffer of numel() elements (a DTypeError for the wrong T).
    tg::dispatch(x.dtype(), [&]<class T>() {
      const T* in = x.data<T>();
      T* out = y.data<T>();
      for (std::int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] * stable_sigmoid(in[i]);
    });
    return y;
  }

  // d swish / dx = s + x s (1 - s) with s = sigmoid(x), times the output's gradient.
  static tg::tensor_list backward(tg::FunctionCtx& ctx, const tg::tensor_list& grads) {
    const tg::Tensor& x = ctx.saved_tensors()[0];
    const tg::Tensor& dy = grads[0];  // the output's shape and dtype, which are x's
    tg::Tensor dx = tg::empty(x.shape(), x.dtype());
    tg::dispatch(x.dtype(), [&]<class T>() {
      const T* in = x.data<T>();
      const T* g = dy.data<T>();
      T* out = dx.data<T>();
      for (std::int64_t i = 0; i < x.numel(); ++i) {
        T s = stable_sigmoid(in[i]);
        out[i] = g[i] * s * (1 + in[i] * (1 - s));
      }
    });
    return {dx};
  }
};

inline tg::Tensor swish(const tg::Tensor& x) { return Swish::apply(x); }

int main() {
  using namespace tg;
  Generator g(1);
  // float64: backward against central differences, large inputs included (the stable sigmoid).
  Tensor x64 = randn({4, 5}, DType::f64, &g) * 8.0;
  GradcheckResult check = gradcheck([](const std::vector<Tensor>& in) { return swish(in[0]); }, {x64});
  fmt::print("gradcheck swish (float64): {}\n", check.ok ? "ok" : check.message);

  // float32: the same loops against swish composed of built-in ops, values and gradients.
  Tensor x = randn({64, 32}, DType::f32, &g).requires_grad_();
  Tensor y = swish(x);
  sum(y).backward();
  Tensor dx = x.grad().clone();
  x.set_grad(Tensor());
  Tensor y_ops = x * sigmoid(x);
  sum(y_ops).backward();
  NoGradGuard no_grad;
  double value_error = max(abs(y - y_ops)).item();
  double grad_error = max(abs(dx - x.grad())).item();
  fmt::print("float32 against x * sigmoid(x): values within {:.1e}, gradients within {:.1e}\n", value_error,
             grad_error);
  return check.ok && value_error < 1e-6 && grad_error < 1e-6 ? 0 : 1;
}

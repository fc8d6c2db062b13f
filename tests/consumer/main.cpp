// An out-of-tree program built against the installed tapegrad (tests/consumer/run.sh): a custom
// differentiable op checked by tg::gradcheck, a custom module using it, and a few training
// steps that must lower the loss. Exits non-zero on any failure.
#include <tapegrad/tapegrad.h>

#include <cstdio>

// softsign(x) = x / (1 + |x|), d/dx = 1 / (1 + |x|)^2.
struct Softsign : tg::Function<Softsign> {
  static constexpr const char* name = "softsign";
  static tg::Tensor forward(tg::FunctionCtx& ctx, const tg::Tensor& x) {
    ctx.save_for_backward({x});
    return x / (1.0 + tg::abs(x));
  }
  static tg::tensor_list backward(tg::FunctionCtx& ctx, const tg::tensor_list& grads) {
    const tg::Tensor& x = ctx.saved_tensors()[0];
    return {grads[0] / tg::square(1.0 + tg::abs(x))};
  }
};

// Dense -> softsign -> Dense, registered by name like any built-in layer.
struct SoftsignMlp : tg::Module {
  SoftsignMlp(std::int64_t in, std::int64_t hidden) : Module("SoftsignMlp") {
    hidden_layer = register_module("hidden", std::make_shared<tg::Dense>(in, hidden));
    out = register_module("out", std::make_shared<tg::Dense>(hidden, 1));
  }
  tg::Tensor forward(const tg::Tensor& x) override { return (*out)(Softsign::apply((*hidden_layer)(x))); }
  std::shared_ptr<tg::Dense> hidden_layer, out;
};

int main() {
  tg::manual_seed(7);
  tg::Generator gen(7);

  tg::GradcheckResult check = tg::gradcheck([](const std::vector<tg::Tensor>& in) { return Softsign::apply(in[0]); },
                                            {tg::randn({4, 5}, tg::DType::f64, &gen)});
  if (!check.ok) {
    std::printf("consumer: gradcheck softsign failed: %s\n", check.message.c_str());
    return 1;
  }

  SoftsignMlp model(3, 8);
  tg::Tensor x = tg::randn({64, 3}, tg::DType::f32, &gen);
  tg::Tensor y = tg::sum(x, {1}, /*keepdim=*/true) * 0.5;
  tg::SGD opt(model.parameters(), 0.1);
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 20; ++step) {
    opt.zero_grad();
    tg::Tensor loss = tg::mse(y, model(x));
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  std::printf("consumer: %lld parameters, loss %.5f -> %.5f\n", static_cast<long long>(model.num_parameters()), first,
              last);
  if (!(last < 0.5 * first)) {
    std::printf("consumer: training did not halve the loss\n");
    return 1;
  }
  std::printf("consumer: ok\n");
  return 0;
}

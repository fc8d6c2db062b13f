// Uses the custom softplus op in a model, checks its gradient, and trains a step.
#include <fmt/format.h>

#include "softplus.h"
#include "support/cli.h"

namespace {

int run(int argc, char** argv) {
  using namespace tg;
  cli::CommandLine cl("custom_op",
                      "Uses the custom softplus op in a model, checks its gradient, and trains a step.\n"
                      "Takes no arguments.");
  if (const auto status = cl.parse(argc, argv)) return *status;
  // 1. The gradient checker, as for built-in ops (float64, central differences).
  Generator g(1);
  GradcheckResult check =
      gradcheck([](const std::vector<Tensor>& in) { return softplus(in[0]); }, {randn({3, 4}, DType::f64, &g)});
  fmt::print("gradcheck softplus: {}\n", check.ok ? "ok" : check.message);

  // 2. In a computation: one gradient step on w for loss = mean(softplus(x w)).
  Tensor x = randn({8, 3}, DType::f32, &g);
  Tensor w = randn({3, 1}, DType::f32, &g).requires_grad_();
  Tensor loss = mean(softplus(matmul(x, w)));
  loss.backward();
  fmt::print("loss {:.5f}, dloss/dw {}\n", loss.item(), w.grad());
  return check.ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return tg::cli::guarded_main("custom_op", [&] { return run(argc, argv); });
}

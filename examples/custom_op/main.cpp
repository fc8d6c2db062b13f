// Uses the custom softplus op in a model, checks its gradient, and trains a step.
#include <cstdio>

#include <fmt/format.h>

#include "softplus.h"

int main(int argc, char** argv) {
  using namespace tg;
  if (argc > 1) {
    std::fprintf(stderr, "custom_op: unexpected argument '%s'\nusage: custom_op (no arguments)\n", argv[1]);
    return 2;
  }
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

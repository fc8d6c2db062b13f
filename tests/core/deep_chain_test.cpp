// Backward walks the tape in a loop, never by recursion: a chain of 100,000 ops (far more than
// any stack could hold frames for) differentiates, and so does freeing it.

#include <gtest/gtest.h>

#include <cmath>

#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

constexpr int kDepth = 100000;

TEST(DeepChain, MulChainOfOneHundredThousandOps) {
  Tensor x0 = scalar(1.0, DType::f64).requires_grad_();
  Tensor x = x0;
  for (int i = 0; i < kDepth; ++i) x = x * 1.0001;
  EXPECT_EQ(tape().num_nodes(), static_cast<std::size_t>(kDepth));
  const double factor = std::pow(1.0001, kDepth);
  EXPECT_NEAR(x.item(), factor, 1e-9 * factor);
  x.backward();
  ASSERT_TRUE(x0.grad().defined());
  EXPECT_NEAR(x0.grad().item(), factor, 1e-9 * factor);
  EXPECT_EQ(tape().num_nodes(), 0u);
}

TEST(DeepChain, TanhChainOfOneHundredThousandOps) {
  Tensor x0 = tensor({0.5}, DType::f64).requires_grad_();
  Tensor x = x0;
  // The derivative of the chain, by the chain rule written out: prod (1 - tanh(x_i)^2).
  double value = 0.5, derivative = 1.0;
  for (int i = 0; i < kDepth; ++i) {
    x = tanh(x);
    value = std::tanh(value);
    derivative *= 1 - value * value;
  }
  EXPECT_NEAR(x.item(), value, 1e-12);
  x.backward();
  ASSERT_TRUE(x0.grad().defined());
  EXPECT_NEAR(x0.grad().item(), derivative, 1e-9 * derivative);
  EXPECT_GT(x0.grad().item(), 0.0);
}

TEST(DeepChain, DroppingAnUnusedDeepChainFreesIt) {
  Tensor x0 = scalar(1.0, DType::f64).requires_grad_();
  {
    Tensor x = x0;
    for (int i = 0; i < kDepth; ++i) x = x * 1.0001;
  }
  EXPECT_EQ(tape().num_nodes(), 0u);
}

TEST(DeepChain, RecurrentChainOfShapeOps) {
  // A long unrolled recurrence through several op families: h = tanh(h W + x_t), summed.
  constexpr int kSteps = 20000;
  Tensor w = tensor({0.5, -0.25, 0.1, 0.3}, {2, 2}, DType::f64).requires_grad_();
  Tensor h = zeros({1, 2}, DType::f64);
  Tensor x = tensor({0.1, -0.2}, {1, 2}, DType::f64);
  for (int t = 0; t < kSteps; ++t) h = tanh(matmul(h, w) + x);
  Tensor loss = sum(reshape(h, {2}));
  loss.backward();
  ASSERT_TRUE(w.grad().defined());
  for (double g : w.grad().to_vector()) EXPECT_TRUE(std::isfinite(g));
}

}  // namespace
}  // namespace tg

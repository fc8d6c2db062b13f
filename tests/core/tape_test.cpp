#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

TEST(Tape, ChainRuleThroughTanhAndMul) {
  Tensor x = tensor({0.5, -1.0, 2.0}, DType::f64).requires_grad_();
  Tensor y = tanh(x) * x;
  EXPECT_EQ(tape().num_nodes(), 2u);
  Tensor s = y * 1.0;
  (void)s;
  Tensor g = ones_like(y);
  y.backward(g);
  for (int i = 0; i < 3; ++i) {
    double v = x.at({i});
    double t = std::tanh(v);
    EXPECT_NEAR(x.grad().at({i}), t + v * (1 - t * t), 1e-12);
  }
  EXPECT_EQ(tape().num_nodes(), 0u);
}

TEST(Tape, SharedWeightAccumulates) {
  Tensor w = scalar(0.3, DType::f64).requires_grad_();
  Tensor h = scalar(1.0, DType::f64);
  for (int t = 0; t < 5; ++t) h = tanh(h * w);
  h.backward();
  auto r = gradcheck([](const std::vector<Tensor>& in) {
    Tensor h = scalar(1.0, DType::f64);
    for (int t = 0; t < 5; ++t) h = tanh(h * in[0]);
    return h;
  }, {scalar(0.3, DType::f64)});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Tape, AutoClearsWhenNothingCanReachIt) {
  Tensor w = ones({3}).requires_grad_();
  { Tensor y = tanh(w * w); EXPECT_GT(tape().num_nodes(), 0u); }
  EXPECT_EQ(tape().num_nodes(), 0u);
}

TEST(Tape, BackwardTwiceIsAClearError) {
  Tensor w = ones({1}).requires_grad_();
  Tensor y = tanh(w);
  y.backward();
  EXPECT_THROW(y.backward(), GraphError);
}

}  // namespace
}  // namespace tg

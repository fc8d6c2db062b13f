#include <gtest/gtest.h>

#include <cmath>

#include <tapegrad/tapegrad.h>

#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::rnd;

TEST(Mse, HandComputed) {
  Tensor pred = tensor({1, 2, 3}, DType::f64);
  Tensor truth = tensor({1, 0, 0}, DType::f64);
  Tensor l = mse(truth, pred);
  EXPECT_EQ(l.shape(), Shape{});
  EXPECT_NEAR(l.item(), (0.0 + 4.0 + 9.0) / 3.0, 1e-15);
  EXPECT_NEAR(mse(zeros({2, 2}, DType::f64), tensor({1, 2, 3, 4}, {2, 2}, DType::f64)).item(), 30.0 / 4.0, 1e-15);
  EXPECT_NEAR(mse(scalar(1, DType::f64), scalar(3, DType::f64)).item(), 4.0, 1e-15);
  EXPECT_TRUE(std::isnan(mse(zeros({0}, DType::f64), zeros({0}, DType::f64)).item()));
}

TEST(Mse, Float32Forward) {
  Tensor pred = rnd({32, 50, 1}, 1, DType::f32), truth = rnd({32, 50, 1}, 2, DType::f32);
  Tensor l = mse(truth, pred);
  EXPECT_EQ(l.dtype(), DType::f32);
  std::vector<double> p = pred.to_vector(), t = truth.to_vector();
  double want = 0;
  for (std::size_t i = 0; i < p.size(); ++i) want += (p[i] - t[i]) * (p[i] - t[i]);
  EXPECT_NEAR(l.item(), want / static_cast<double>(p.size()), 1e-6);
}

TEST(Mse, MatchesTheComposedOps) {
  Tensor pred = rnd({4, 3}, 3), truth = rnd({4, 3}, 4);
  EXPECT_NEAR(mse(truth, pred).item(), mean(square(pred - truth)).item(), 1e-15);
}

TEST(Mse, Gradcheck) {
  auto loss = [](const std::vector<Tensor>& v) { return mse(v[1], v[0]); };
  EXPECT_GRADCHECK(loss, rnd({4, 3}, 5), rnd({4, 3}, 6));
  EXPECT_GRADCHECK(loss, rnd({2, 5, 1}, 7), rnd({2, 5, 1}, 8));
  EXPECT_GRADCHECK(loss, rnd({}, 9), rnd({}, 10));
  EXPECT_GRADCHECK(loss, rnd({1}, 11), rnd({1}, 12));
}

TEST(Mse, GradientOnlyToPredWhenTruthIsConstant) {
  Tensor pred = tensor({1, 2, 3}, DType::f64).requires_grad_();
  Tensor truth = tensor({1, 0, 0}, DType::f64);
  mse(truth, pred).backward();
  ASSERT_TRUE(pred.grad().defined());
  EXPECT_FALSE(truth.grad().defined());
  // 2 (pred - true) / n
  EXPECT_NEAR(pred.grad().at({0}), 0.0, 1e-15);
  EXPECT_NEAR(pred.grad().at({1}), 4.0 / 3.0, 1e-15);
  EXPECT_NEAR(pred.grad().at({2}), 6.0 / 3.0, 1e-15);
}

TEST(Mse, IsOneNode) {
  Tensor pred = rnd({3}, 13).requires_grad_();
  Tensor l = mse(rnd({3}, 14), pred);
  EXPECT_EQ(tape().num_nodes(), 1u);
}

}  // namespace
}  // namespace tg

#include <gtest/gtest.h>

#include <cmath>

#include <tapegrad/tapegrad.h>

#include "support/op_test_util.h"

namespace tg {
namespace {


using testing::rnd;

TEST(MseLoss, HandComputed) {
  Tensor pred = tensor({1, 2, 3}, DType::f64);
  Tensor truth = tensor({1, 0, 0}, DType::f64);
  Tensor l = mse_loss(pred, truth);
  EXPECT_EQ(l.shape(), Shape{});
  EXPECT_NEAR(l.item(), (0.0 + 4.0 + 9.0) / 3.0, 1e-15);
  EXPECT_NEAR(mse_loss(tensor({1, 2, 3, 4}, {2, 2}, DType::f64), zeros({2, 2}, DType::f64)).item(), 30.0 / 4.0,
              1e-15);
  EXPECT_NEAR(mse_loss(scalar(3, DType::f64), scalar(1, DType::f64)).item(), 4.0, 1e-15);
  EXPECT_TRUE(std::isnan(mse_loss(zeros({0}, DType::f64), zeros({0}, DType::f64)).item()));
}

TEST(MseLoss, Float32Forward) {
  Tensor pred = rnd({32, 50, 1}, 1, DType::f32), truth = rnd({32, 50, 1}, 2, DType::f32);
  Tensor l = mse_loss(pred, truth);
  EXPECT_EQ(l.dtype(), DType::f32);
  std::vector<double> p = pred.to_vector(), t = truth.to_vector();
  double want = 0;
  for (std::size_t i = 0; i < p.size(); ++i) want += (p[i] - t[i]) * (p[i] - t[i]);
  EXPECT_NEAR(l.item(), want / static_cast<double>(p.size()), 1e-6);
}

TEST(MseLoss, MatchesTheComposedOps) {
  Tensor pred = rnd({4, 3}, 3), truth = rnd({4, 3}, 4);
  EXPECT_NEAR(mse_loss(pred, truth).item(), mean(square(pred - truth)).item(), 1e-15);
}

TEST(MseLoss, Gradcheck) {
  auto mse = [](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1]); };
  EXPECT_GRADCHECK(mse, rnd({4, 3}, 5), rnd({4, 3}, 6));
  EXPECT_GRADCHECK(mse, rnd({2, 5, 1}, 7), rnd({2, 5, 1}, 8));
  EXPECT_GRADCHECK(mse, rnd({}, 9), rnd({}, 10));
  EXPECT_GRADCHECK(mse, rnd({1}, 11), rnd({1}, 12));
}

TEST(MseLoss, GradientOnlyToPredWhenTruthIsConstant) {
  Tensor pred = tensor({1, 2, 3}, DType::f64).requires_grad_();
  Tensor truth = tensor({1, 0, 0}, DType::f64);
  mse_loss(pred, truth).backward();
  ASSERT_TRUE(pred.grad().defined());
  EXPECT_FALSE(truth.grad().defined());
  // 2 (pred - true) / n
  EXPECT_NEAR(pred.grad().at({0}), 0.0, 1e-15);
  EXPECT_NEAR(pred.grad().at({1}), 4.0 / 3.0, 1e-15);
  EXPECT_NEAR(pred.grad().at({2}), 6.0 / 3.0, 1e-15);
}

TEST(MseLoss, IsOneNode) {
  Tensor pred = rnd({3}, 13).requires_grad_();
  Tensor l = mse_loss(pred, rnd({3}, 14));
  EXPECT_EQ(tape().num_nodes(), 1u);
}

}  // namespace
}  // namespace tg

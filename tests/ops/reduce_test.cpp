#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <tapegrad/tapegrad.h>

#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::rnd;

using testing::expect_values;

// [[1, 2, 3], [4, 5, 6]]
Tensor two_by_three(DType d = DType::f64) { return tensor({1, 2, 3, 4, 5, 6}, {2, 3}, d); }

TEST(Reduce, SumForward) {
  Tensor x = two_by_three();
  expect_values(sum(x), Shape{}, {21});
  expect_values(sum(x, {0}), Shape{3}, {5, 7, 9});
  expect_values(sum(x, {-1}), Shape{2}, {6, 15});
  expect_values(sum(x, {1}, true), Shape{2, 1}, {6, 15});
  expect_values(sum(x, {0, 1}), Shape{}, {21});
  expect_values(sum(x, {-1, 0}, true), Shape{1, 1}, {21});
  expect_values(sum(scalar(2.5, DType::f64)), Shape{}, {2.5});
}

TEST(Reduce, SumOverNoAxesIsACopy) {
  Tensor x = two_by_three();
  Tensor y = sum(x, {});
  expect_values(y, Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_NE(y.raw_data(), x.raw_data());
}

TEST(Reduce, SumOfSizeOneAxisDoesNotAlias) {
  Tensor x = tensor({1, 2, 3}, {1, 3}, DType::f64);
  Tensor y = sum(x, {0});
  expect_values(y, Shape{3}, {1, 2, 3});
  y.set({0}, 10);
  EXPECT_EQ(x.at({0, 0}), 1.0);
}

TEST(Reduce, SumOfEmptyIsZeroAndMeanIsNaN) {
  Tensor x = zeros({0, 3}, DType::f64);
  expect_values(sum(x), Shape{}, {0});
  expect_values(sum(x, {0}), Shape{3}, {0, 0, 0});
  EXPECT_TRUE(std::isnan(mean(x).item()));
}

TEST(Reduce, MeanForward) {
  Tensor x = two_by_three();
  expect_values(mean(x), Shape{}, {3.5});
  expect_values(mean(x, {0}), Shape{3}, {2.5, 3.5, 4.5});
  expect_values(mean(x, {-1}, true), Shape{2, 1}, {2, 5});
}

TEST(Reduce, MaxForward) {
  Tensor x = tensor({1, 7, 3, 4, -5, 6}, {2, 3}, DType::f64);
  expect_values(max(x), Shape{}, {7});
  expect_values(max(x, 0), Shape{3}, {4, 7, 6});
  expect_values(max(x, -1), Shape{2}, {7, 6});
  expect_values(max(x, 1, true), Shape{2, 1}, {7, 6});
  Tensor y = tensor({1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12}, {2, 3, 2}, DType::f64);
  expect_values(max(y, 1), Shape{2, 2}, {5, 6, 11, 12});
}

TEST(Reduce, MaxGradientGoesToTheFirstMaximum) {
  Tensor x = tensor({3, 1, 3, 2, 2, 0}, {2, 3}, DType::f64).requires_grad_();
  max(x).backward();
  expect_values(x.grad(), Shape{2, 3}, {1, 0, 0, 0, 0, 0});

  Tensor y = tensor({3, 1, 3, 2, 2, 0}, {2, 3}, DType::f64).requires_grad_();
  max(y, 1).backward(tensor({10, 20}, DType::f64));
  expect_values(y.grad(), Shape{2, 3}, {10, 0, 0, 20, 0, 0});

  Tensor z = tensor({3, 1, 3, 3, 2, 0}, {2, 3}, DType::f64).requires_grad_();
  max(z, 0).backward(tensor({1, 2, 3}, DType::f64));
  expect_values(z.grad(), Shape{2, 3}, {1, 0, 3, 0, 2, 0});
}

TEST(Reduce, MaxPropagatesNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(max(tensor({1, nan, 3}, DType::f64)).item()));
  Tensor m = max(tensor({1, nan, 3, 4}, {2, 2}, DType::f64), 1);
  EXPECT_TRUE(std::isnan(m.at({0})));
  EXPECT_EQ(m.at({1}), 4.0);
}

TEST(Reduce, Float32Forward) {
  Tensor x = two_by_three(DType::f32);
  Tensor s = sum(x, {0});
  EXPECT_EQ(s.dtype(), DType::f32);
  expect_values(s, Shape{3}, {5, 7, 9}, 1e-6);
  expect_values(mean(x, {1}), Shape{2}, {2, 5}, 1e-6);
  expect_values(max(x, 0), Shape{3}, {4, 5, 6}, 0);
  EXPECT_EQ(max(x).dtype(), DType::f32);
  EXPECT_NEAR(mean(x).item(), 3.5, 1e-6);
}

TEST(Reduce, SumGradcheck) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0]); }, rnd({3, 4}, 1));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0]); }, rnd({}, 2));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0], {0}); }, rnd({3, 4}, 3));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0], {-1}, true); }, rnd({3, 4}, 4));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0], {0, -1}); }, rnd({2, 3, 4}, 5));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0], {1}, true); }, rnd({2, 3, 4}, 6));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0], {1}); }, rnd({3, 1, 4}, 7));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0], {}); }, rnd({2, 3}, 8));
  // The reduced gradient is added to what other uses of x contribute.
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0], {0}) * v[0]; }, rnd({3, 4}, 9));
}

TEST(Reduce, MeanGradcheck) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return mean(v[0]); }, rnd({3, 4}, 11));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return mean(v[0]); }, rnd({}, 12));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return mean(v[0], {-2}); }, rnd({3, 4}, 13));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return mean(v[0], {0, 2}, true); }, rnd({2, 3, 4}, 14));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return mean(v[0], {2}); }, rnd({2, 3, 1}, 15));
}

TEST(Reduce, MaxGradcheck) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return max(v[0]); }, rnd({3, 4}, 21));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return max(v[0]); }, rnd({}, 22));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return max(v[0], 0); }, rnd({3, 4}, 23));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return max(v[0], -1, true); }, rnd({3, 4}, 24));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return max(v[0], 1); }, rnd({2, 3, 4}, 25));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return max(v[0], 1); }, rnd({2, 1, 4}, 26));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return max(v[0], 0); }, rnd({5}, 27));
}

TEST(Reduce, GradientAccumulatesIntoAnExistingGradient) {
  Tensor x = tensor({1, 2, 3}, DType::f64).requires_grad_();
  sum(x).backward();
  sum(x * 2.0).backward();
  expect_values(x.grad(), Shape{3}, {3, 3, 3});
}

}  // namespace
}  // namespace tg

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include <tapegrad/tapegrad.h>

#include "support/op_test_util.h"

namespace tg {
namespace {

constexpr double kE = std::numbers::e;
constexpr double kLn2 = std::numbers::ln2;

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

using testing::rnd;

// Values in ±[0.1, 1]: away from the kinks of abs and relu at 0.
Tensor away_from_zero(const Shape& s, std::uint32_t seed) {
  Tensor t = rnd(s, seed, -0.9, 0.9);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] += p[i] >= 0 ? 0.1 : -0.1;
  return t;
}

using testing::expect_values;

const Shape kShapes[] = {Shape{}, Shape{1}, Shape{5}, Shape{2, 3}, Shape{2, 1, 3}};

TEST(Unary, HandComputedForward) {
  const Shape s{4};
  expect_values(square(tensor({-2, 0, 0.5, 3}, DType::f64)), s, {4, 0, 0.25, 9});
  expect_values(sqrt(tensor({0, 1, 4, 6.25}, DType::f64)), s, {0, 1, 2, 2.5});
  expect_values(exp(tensor({0, 1, -1, 2}, DType::f64)), s, {1, kE, 1 / kE, kE * kE});
  expect_values(log(tensor({1, kE, 1 / kE, 8}, DType::f64)), s, {0, 1, -1, 3 * kLn2});
  expect_values(abs(tensor({-2, 0, 0.5, -3}, DType::f64)), s, {2, 0, 0.5, 3});
  expect_values(tanh(tensor({0, 1, -1, 20}, DType::f64)), s,
                {0, (kE - 1 / kE) / (kE + 1 / kE), -(kE - 1 / kE) / (kE + 1 / kE), 1});
  expect_values(sigmoid(tensor({0, 1, -1, -800}, DType::f64)), s, {0.5, 1 / (1 + 1 / kE), 1 / (1 + kE), 0});
  expect_values(relu(tensor({-2, 0, 0.5, 3}, DType::f64)), s, {0, 0, 0.5, 3});
  expect_values(pow(tensor({2, 3, 4, 0.5}, DType::f64), 3), s, {8, 27, 64, 0.125});
  expect_values(pow(tensor({4, 9, 1, 0.25}, DType::f64), 0.5), s, {2, 3, 1, 0.5});
  expect_values(pow(tensor({2, -3, 4, 0.5}, DType::f64), 0), s, {1, 1, 1, 1});
  expect_values(clamp(tensor({-2, -0.5, 0.25, 3}, DType::f64), -1, 1), s, {-1, -0.5, 0.25, 1});
}

TEST(Unary, ForwardMatchesTheStandardLibrary) {
  Tensor x = rnd({3, 4}, 1, 0.05, 3.0);
  const std::vector<double> v = x.to_vector();
  auto check = [&](const Tensor& y, double (*f)(double)) {
    std::vector<double> want;
    for (double e : v) want.push_back(f(e));
    expect_values(y, Shape{3, 4}, want, 1e-14);
  };
  check(sqrt(x), [](double e) { return std::sqrt(e); });
  check(exp(x), [](double e) { return std::exp(e); });
  check(log(x), [](double e) { return std::log(e); });
  check(tanh(x - 1.5), [](double e) { return std::tanh(e - 1.5); });
  check(sigmoid(x - 1.5), [](double e) { return 1 / (1 + std::exp(1.5 - e)); });
  check(pow(x, -1.5), [](double e) { return std::pow(e, -1.5); });
}

TEST(Unary, Float32Forward) {
  Tensor x = tensor({0.25, 1, 2, 4});
  const Shape s{4};
  Tensor y = sqrt(x);
  EXPECT_EQ(y.dtype(), DType::f32);
  expect_values(y, s, {0.5, 1, std::sqrt(2.0), 2}, 1e-6);
  expect_values(square(x), s, {0.0625, 1, 4, 16}, 1e-6);
  expect_values(exp(x), s, {std::exp(0.25), kE, std::exp(2.0), std::exp(4.0)}, 1e-4);
  expect_values(log(x), s, {std::log(0.25), 0, kLn2, 2 * kLn2}, 1e-6);
  expect_values(abs(-x), s, {0.25, 1, 2, 4}, 0);
  expect_values(tanh(x), s, {std::tanh(0.25), std::tanh(1.0), std::tanh(2.0), std::tanh(4.0)}, 1e-6);
  expect_values(sigmoid(-x), s,
                {1 / (1 + std::exp(0.25)), 1 / (1 + kE), 1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(4.0))}, 1e-6);
  expect_values(relu(x - 1.5), s, {0, 0, 0.5, 2.5}, 1e-6);
  expect_values(pow(x, 2), s, {0.0625, 1, 4, 16}, 1e-6);
  expect_values(clamp(x, 0.5, 3), s, {0.5, 1, 2, 3}, 0);
  // No overflow for large |x|.
  const double tiny = sigmoid(tensor({-200.0})).at({0});
  EXPECT_GE(tiny, 0.0);
  EXPECT_LT(tiny, 1e-30);
  EXPECT_EQ(sigmoid(tensor({200.0})).at({0}), 1.0);
}

TEST(Unary, GradcheckSmoothOps) {
  const std::vector<std::pair<const char*, Fn>> anywhere{
      {"square", [](const std::vector<Tensor>& v) { return square(v[0]); }},
      {"exp", [](const std::vector<Tensor>& v) { return exp(v[0]); }},
      {"tanh", [](const std::vector<Tensor>& v) { return tanh(v[0]); }},
      {"sigmoid", [](const std::vector<Tensor>& v) { return sigmoid(v[0]); }},
      {"pow3", [](const std::vector<Tensor>& v) { return pow(v[0], 3); }},
      {"pow0", [](const std::vector<Tensor>& v) { return pow(v[0], 0) * v[0]; }},
  };
  const std::vector<std::pair<const char*, Fn>> positive{
      {"sqrt", [](const std::vector<Tensor>& v) { return sqrt(v[0]); }},
      {"log", [](const std::vector<Tensor>& v) { return log(v[0]); }},
      {"pow_half", [](const std::vector<Tensor>& v) { return pow(v[0], 0.5); }},
      {"pow_negative", [](const std::vector<Tensor>& v) { return pow(v[0], -1.5); }},
  };
  std::uint32_t seed = 10;
  for (const Shape& s : kShapes) {
    for (const auto& [name, f] : anywhere) {
      SCOPED_TRACE(fmt::format("{} {}", name, s));
      EXPECT_GRADCHECK(f, rnd(s, seed++, -2.0, 2.0));
    }
    for (const auto& [name, f] : positive) {
      SCOPED_TRACE(fmt::format("{} {}", name, s));
      EXPECT_GRADCHECK(f, rnd(s, seed++, 0.2, 3.0));
    }
  }
}

TEST(Unary, GradcheckKinkedOpsAwayFromTheKinks) {
  const std::vector<std::pair<const char*, Fn>> ops{
      {"abs", [](const std::vector<Tensor>& v) { return abs(v[0]); }},
      {"relu", [](const std::vector<Tensor>& v) { return relu(v[0]); }},
  };
  std::uint32_t seed = 500;
  for (const Shape& s : kShapes)
    for (const auto& [name, f] : ops) {
      SCOPED_TRACE(fmt::format("{} {}", name, s));
      EXPECT_GRADCHECK(f, away_from_zero(s, seed++));
    }
  // Clamp: values inside and outside [-0.5, 0.5], none within 0.05 of a bound.
  Tensor x = tensor({-0.9, -0.3, 0.2, 0.7, 0.45, -0.6}, {2, 3}, DType::f64);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return clamp(v[0], -0.5, 0.5); }, x);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return clamp(v[0], -0.5, 0.5); }, scalar(0.1, DType::f64));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return clamp(v[0], -0.5, 0.5); }, scalar(2.0, DType::f64));
}

TEST(Unary, KinkGradientsAreTheDocumentedOnes) {
  Tensor x = tensor({-1, 0, 2}, DType::f64).requires_grad_();
  sum(relu(x) + abs(x) + clamp(x, 0, 2)).backward();
  // relu' = [0, 0, 1], abs' = [-1, 0, 1], clamp' = 1 strictly inside (0, 2) only.
  expect_values(x.grad(), Shape{3}, {-1, 0, 2});
}

}  // namespace
}  // namespace tg

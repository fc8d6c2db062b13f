#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "support/op_test_util.h"

namespace tg {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

using testing::rnd;

using testing::expect_values;

// The shape pairs every binary op is checked on: equal shapes, numpy broadcasting both ways,
// scalars and size-1 dimensions.
struct ShapePair {
  Shape a, b;
};
const std::vector<ShapePair>& broadcast_cases() {
  static const std::vector<ShapePair> cases{
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{4}, {3, 4}},       {{3, 1}, {1, 4}}, {{}, {2, 3}},
      {{2, 3}, {}},     {{}, {}},      {{2, 1, 3}, {4, 1}}, {{1}, {1}},       {{2, 3, 1}, {1, 3, 2}},
  };
  return cases;
}

// ---- forward values ---------------------------------------------------------------------------

TEST(Elementwise, BinaryForward) {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor b = tensor({10, 20, 30}, DType::f64);
  Tensor c = tensor({2, 4}, {2, 1}, DType::f64);
  expect_values(add(a, b), Shape{2, 3}, {11, 22, 33, 14, 25, 36});
  expect_values(sub(a, b), Shape{2, 3}, {-9, -18, -27, -6, -15, -24});
  expect_values(mul(a, c), Shape{2, 3}, {2, 4, 6, 16, 20, 24});
  expect_values(div(a, c), Shape{2, 3}, {0.5, 1, 1.5, 1, 1.25, 1.5});
  expect_values(neg(a), Shape{2, 3}, {-1, -2, -3, -4, -5, -6});
  expect_values(mul(c, b), Shape{2, 3}, {20, 40, 60, 40, 80, 120});
  expect_values(add(scalar(1, DType::f64), c), Shape{2, 1}, {3, 5});
  expect_values(add(tensor({1, 2}, {2, 1, 1}, DType::f64), tensor({10, 20, 30}, {3, 1}, DType::f64)), Shape{2, 3, 1},
                {11, 21, 31, 12, 22, 32});
}

TEST(Elementwise, ScalarForward) {
  Tensor a = tensor({1, 2, 4}, DType::f64);
  expect_values(add(a, 1.5), Shape{3}, {2.5, 3.5, 5.5});
  expect_values(sub(a, 1.0), Shape{3}, {0, 1, 3});
  expect_values(rsub(10.0, a), Shape{3}, {9, 8, 6});
  expect_values(mul(a, -2.0), Shape{3}, {-2, -4, -8});
  expect_values(div(a, 4.0), Shape{3}, {0.25, 0.5, 1});
  expect_values(rdiv(8.0, a), Shape{3}, {8, 4, 2});
}

TEST(Elementwise, Operators) {
  Tensor a = tensor({1, 2}, DType::f64);
  Tensor b = tensor({4, 8}, DType::f64);
  expect_values(a + b, Shape{2}, {5, 10});
  expect_values(a - b, Shape{2}, {-3, -6});
  expect_values(a * b, Shape{2}, {4, 16});
  expect_values(a / b, Shape{2}, {0.25, 0.25});
  expect_values(-a, Shape{2}, {-1, -2});
  expect_values(a + 1.0, Shape{2}, {2, 3});
  expect_values(1.0 + a, Shape{2}, {2, 3});
  expect_values(a - 1.0, Shape{2}, {0, 1});
  expect_values(1.0 - a, Shape{2}, {0, -1});
  expect_values(a * 3.0, Shape{2}, {3, 6});
  expect_values(3.0 * a, Shape{2}, {3, 6});
  expect_values(a / 2.0, Shape{2}, {0.5, 1});
  expect_values(2.0 / a, Shape{2}, {2, 1});
}

TEST(Elementwise, Float32Forward) {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = tensor({0.5, 0.25, 2});
  Tensor s = a * b;
  EXPECT_EQ(s.dtype(), DType::f32);
  expect_values(s, Shape{2, 3}, {0.5, 0.5, 6, 2, 1.25, 12}, 1e-6);
  expect_values(a / b, Shape{2, 3}, {2, 8, 1.5, 8, 20, 3}, 1e-5);
  expect_values(a - b, Shape{2, 3}, {0.5, 1.75, 1, 3.5, 4.75, 4}, 1e-6);
  expect_values(a + b, Shape{2, 3}, {1.5, 2.25, 5, 4.5, 5.25, 8}, 1e-6);
  expect_values(-b, Shape{3}, {-0.5, -0.25, -2}, 0);
  expect_values(2.0 / b + 1.0, Shape{3}, {5, 9, 2}, 1e-6);
  expect_values(3.0 - b * 2.0, Shape{3}, {2, 2.5, -1}, 1e-6);
  expect_values(b / 2.0 - 0.25, Shape{3}, {0, -0.125, 0.75}, 1e-6);
}

// ---- gradients --------------------------------------------------------------------------------

TEST(Elementwise, BinaryGradcheckWithBroadcasting) {
  const std::vector<std::pair<const char*, Fn>> ops{
      {"add", [](const std::vector<Tensor>& v) { return add(v[0], v[1]); }},
      {"sub", [](const std::vector<Tensor>& v) { return sub(v[0], v[1]); }},
      {"mul", [](const std::vector<Tensor>& v) { return mul(v[0], v[1]); }},
      {"div", [](const std::vector<Tensor>& v) { return div(v[0], v[1]); }},
  };
  std::uint32_t seed = 1;
  for (const auto& [name, f] : ops)
    for (const ShapePair& c : broadcast_cases()) {
      SCOPED_TRACE(fmt::format("{} {} {}", name, c.a, c.b));
      // The divisor stays away from zero.
      EXPECT_GRADCHECK(f, rnd(c.a, seed++), rnd(c.b, seed++, 0.5, 2.0));
    }
}

TEST(Elementwise, UnaryAndScalarGradcheck) {
  const std::vector<std::pair<const char*, Fn>> ops{
      {"neg", [](const std::vector<Tensor>& v) { return neg(v[0]); }},
      {"add_scalar", [](const std::vector<Tensor>& v) { return add(v[0], 0.7); }},
      {"sub_scalar", [](const std::vector<Tensor>& v) { return sub(v[0], 0.7); }},
      {"rsub_scalar", [](const std::vector<Tensor>& v) { return rsub(0.7, v[0]); }},
      {"mul_scalar", [](const std::vector<Tensor>& v) { return mul(v[0], -1.3); }},
      {"div_scalar", [](const std::vector<Tensor>& v) { return div(v[0], 2.5); }},
      {"rdiv_scalar", [](const std::vector<Tensor>& v) { return rdiv(1.5, v[0]); }},
      {"operators", [](const std::vector<Tensor>& v) { return (2.0 - v[0]) * 3.0 / 2.0 + 1.0 / v[0] - -v[0]; }},
  };
  std::uint32_t seed = 100;
  for (const auto& [name, f] : ops)
    for (const Shape& s : {Shape{}, Shape{1}, Shape{5}, Shape{2, 3}, Shape{2, 1, 3}}) {
      SCOPED_TRACE(fmt::format("{} {}", name, s));
      EXPECT_GRADCHECK(f, rnd(s, seed++, 0.5, 2.0));
    }
}

TEST(Elementwise, SameTensorOnBothSides) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return v[0] * v[0] - v[0] / (v[0] + 3.0); }, rnd({3, 2}, 200));
}

TEST(Elementwise, RetainGradOnAnAddOutput) {
  // add passes its output gradient straight through; a retained one must survive that.
  Tensor a = tensor({1, 2}, DType::f64).requires_grad_();
  Tensor y = a + 1.0;
  Tensor z = y + a;
  z.retain_grad();
  sum(z * 3.0).backward();
  ASSERT_TRUE(z.grad().defined());
  expect_values(z.grad(), Shape{2}, {3, 3});
  expect_values(a.grad(), Shape{2}, {6, 6});
}

TEST(Elementwise, BroadcastGradientHasTheOperandsShape) {
  Tensor a = ones({3, 4}, DType::f64).requires_grad_();
  Tensor b = ones({4}, DType::f64).requires_grad_();
  sum(a * b).backward();
  EXPECT_EQ(a.grad().shape(), (Shape{3, 4}));
  expect_values(b.grad(), Shape{4}, {3, 3, 3, 3});
}

}  // namespace
}  // namespace tg

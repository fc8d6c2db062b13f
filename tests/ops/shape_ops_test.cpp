#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "support/op_test_util.h"

namespace tg {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

using testing::rnd;

void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& want) {
  ASSERT_EQ(t.shape(), shape);
  std::vector<double> got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "element " << i;
}

// 0, 1, 2, ... n-1 in `shape`.
Tensor iota(const Shape& s, DType d = DType::f64) {
  return reshape(arange(0, static_cast<double>(s.numel()), 1, d), std::vector<std::int64_t>(s.begin(), s.end()));
}

// ---- reshape and flatten ----------------------------------------------------------------------

TEST(ShapeOps, ReshapeSharesElements) {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor y = reshape(x, {3, 2});
  expect_values(y, Shape{3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(y.raw_data(), x.raw_data());
  expect_values(reshape(x, {-1}), Shape{6}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(reshape(x, {2, -1, 1}).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(reshape(x, {-1, 2}).shape(), (Shape{3, 2}));
  EXPECT_EQ(reshape(scalar(4, DType::f64), {1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(reshape(tensor({4}, DType::f64), {}).shape(), Shape{});
  EXPECT_EQ(reshape(zeros({0, 4}), {-1, 2}).shape(), (Shape{0, 2}));
}

TEST(ShapeOps, ReshapeGradientIsAViewBack) {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64).requires_grad_();
  Tensor y = reshape(x, {3, 2});
  y.backward(tensor({1, 2, 3, 4, 5, 6}, {3, 2}, DType::f64));
  expect_values(x.grad(), Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return reshape(v[0], {4, -1}); }, rnd({2, 3, 2}, 1));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return reshape(v[0], {}); }, rnd({1, 1}, 2));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return reshape(v[0] * v[0], {3}) * reshape(v[0], {3}); },
                   rnd({3, 1}, 3));
}

TEST(ShapeOps, RetainGradOnAReshapedOutput) {
  // reshape's rule passes its output gradient straight through; a retained one must survive that.
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64).requires_grad_();
  Tensor y = reshape(x, {3, 2});
  y.retain_grad();
  sum(y * y).backward();
  ASSERT_TRUE(y.grad().defined());
  expect_values(y.grad(), Shape{3, 2}, {2, 4, 6, 8, 10, 12});
  expect_values(x.grad(), Shape{2, 3}, {2, 4, 6, 8, 10, 12});
}

TEST(ShapeOps, Flatten) {
  Tensor x = iota({2, 3, 4});
  Tensor y = flatten(x);
  ASSERT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.at({1, 5}), x.at({1, 1, 1}));
  EXPECT_EQ(flatten(iota({5})).shape(), (Shape{5, 1}));
  EXPECT_EQ(flatten(iota({5, 2})).shape(), (Shape{5, 2}));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return flatten(v[0]); }, rnd({2, 3, 2}, 4));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return flatten(v[0]); }, rnd({3}, 5));
}

// ---- transpose and permute --------------------------------------------------------------------

TEST(ShapeOps, TransposeForward) {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor y = transpose(x);
  expect_values(y, Shape{3, 2}, {1, 4, 2, 5, 3, 6});
  EXPECT_NE(y.raw_data(), x.raw_data());
  Tensor z = iota({2, 3, 4});
  Tensor t = transpose(z, 0, -1);
  ASSERT_EQ(t.shape(), (Shape{4, 3, 2}));
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t k = 0; k < 4; ++k) EXPECT_EQ(t.at({k, j, i}), z.at({i, j, k}));
  expect_values(transpose(x, 1, 1), Shape{2, 3}, {1, 2, 3, 4, 5, 6});
}

TEST(ShapeOps, PermuteForward) {
  Tensor x = iota({2, 3, 4});
  Tensor y = permute(x, {2, 0, 1});
  ASSERT_EQ(y.shape(), (Shape{4, 2, 3}));
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t k = 0; k < 4; ++k) EXPECT_EQ(y.at({k, i, j}), x.at({i, j, k}));
  Tensor z = permute(x, {-2, -1, 0});
  ASSERT_EQ(z.shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(z.at({2, 1, 1}), x.at({1, 2, 1}));
  expect_values(permute(scalar(3, DType::f64), {}), Shape{}, {3});
}

TEST(ShapeOps, TransposePermuteGradcheck) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return transpose(v[0]); }, rnd({3, 4}, 6));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return transpose(v[0], 0, -1); }, rnd({2, 3, 4}, 7));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return transpose(v[0], -3, 1); }, rnd({2, 1, 3}, 8));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return permute(v[0], {2, 0, 1}); }, rnd({2, 3, 4}, 9));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return permute(v[0], {-1, 0, 2, 1}); }, rnd({2, 1, 3, 2}, 10));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return permute(v[0], {0}); }, rnd({4}, 11));
}

// ---- slice and select -------------------------------------------------------------------------

TEST(ShapeOps, SliceForward) {
  Tensor x = tensor({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}, DType::f64);
  expect_values(slice(x, 1, 1, 2), Shape{2, 2}, {2, 3, 6, 7});
  expect_values(slice(x, 0, 1, 1), Shape{1, 4}, {5, 6, 7, 8});
  expect_values(slice(x, -1, -2, 2), Shape{2, 2}, {3, 4, 7, 8});
  EXPECT_EQ(slice(x, 1, 4, 0).shape(), (Shape{2, 0}));
  Tensor z = iota({2, 3, 4});
  Tensor s = slice(z, 1, 1, 2);
  ASSERT_EQ(s.shape(), (Shape{2, 2, 4}));
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 2; ++j)
      for (std::int64_t k = 0; k < 4; ++k) EXPECT_EQ(s.at({i, j, k}), z.at({i, j + 1, k}));
}

TEST(ShapeOps, SelectForward) {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  expect_values(select(x, 0, 1), Shape{3}, {4, 5, 6});
  expect_values(select(x, 1, 0), Shape{2}, {1, 4});
  expect_values(select(x, -1, -1), Shape{2}, {3, 6});
  expect_values(select(tensor({7, 8}, DType::f64), 0, 1), Shape{}, {8});
  Tensor z = iota({2, 3, 4});
  Tensor s = select(z, 1, 2);
  ASSERT_EQ(s.shape(), (Shape{2, 4}));
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t k = 0; k < 4; ++k) EXPECT_EQ(s.at({i, k}), z.at({i, 2, k}));
}

TEST(ShapeOps, SliceSelectGradcheck) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return slice(v[0], 1, 1, 2); }, rnd({3, 4}, 12));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return slice(v[0], -1, -3, 2); }, rnd({2, 3, 4}, 13));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return slice(v[0], 0, 0, 1); }, rnd({1, 3}, 14));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return select(v[0], 1, 2); }, rnd({2, 3, 4}, 15));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return select(v[0], -1, -1); }, rnd({3, 4}, 16));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return select(v[0], 0, 0); }, rnd({1}, 17));
  // Two slices of the same tensor: both gradients land in the same buffer.
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return slice(v[0], 0, 0, 2) * slice(v[0], 0, 1, 2); },
                   rnd({3, 2}, 18));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return select(v[0], 1, 0) + select(v[0], 1, 0); },
                   rnd({2, 3}, 19));
}

// ---- concat and stack -------------------------------------------------------------------------

TEST(ShapeOps, ConcatForward) {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2}, DType::f64);
  Tensor b = tensor({5, 6}, {2, 1}, DType::f64);
  Tensor c = tensor({7, 8}, {1, 2}, DType::f64);
  std::vector<Tensor> ab{a, b};
  expect_values(concat(ab, 1), Shape{2, 3}, {1, 2, 5, 3, 4, 6});
  expect_values(concat(ab, -1), Shape{2, 3}, {1, 2, 5, 3, 4, 6});
  std::vector<Tensor> ac{a, c, a};
  expect_values(concat(ac, 0), Shape{5, 2}, {1, 2, 3, 4, 7, 8, 1, 2, 3, 4});
  std::vector<Tensor> one{a};
  expect_values(concat(one, 0), Shape{2, 2}, {1, 2, 3, 4});
  std::vector<Tensor> with_empty{a, zeros({2, 0}, DType::f64)};
  expect_values(concat(with_empty, 1), Shape{2, 2}, {1, 2, 3, 4});
}

TEST(ShapeOps, ConcatGradcheck) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return concat(v, 0); }, rnd({2, 3}, 20), rnd({1, 3}, 21),
                   rnd({4, 3}, 22));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return concat(v, -1); }, rnd({2, 1, 3}, 23), rnd({2, 1, 2}, 24));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return concat(v, 1); }, rnd({2, 2, 3}, 25), rnd({2, 1, 3}, 26));
  // More inputs of different sizes than fit in the node's attributes.
  std::vector<Tensor> many;
  for (std::uint32_t i = 0; i < 9; ++i) many.push_back(rnd({2, 1 + i % 3}, 30 + i));
  GradcheckResult r = gradcheck([](const std::vector<Tensor>& v) { return concat(v, 1); }, many);
  EXPECT_TRUE(r.ok) << r.message;
  // The same tensor twice.
  EXPECT_GRADCHECK(Fn([](const std::vector<Tensor>& v) {
                     std::vector<Tensor> xs{v[0], v[0]};
                     return concat(xs, 0);
                   }),
                   rnd({2, 2}, 40));
}

TEST(ShapeOps, ConcatSkipsInputsThatNeedNoGradient) {
  Tensor a = tensor({1, 2}, {1, 2}, DType::f64).requires_grad_();
  Tensor c = tensor({3, 4, 5, 6}, {2, 2}, DType::f64);
  Tensor b = tensor({7, 8}, {1, 2}, DType::f64).requires_grad_();
  std::vector<Tensor> xs{a, c, b};
  Tensor y = concat(xs, 0);
  y.backward(tensor({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2}, DType::f64));
  expect_values(a.grad(), Shape{1, 2}, {1, 2});
  expect_values(b.grad(), Shape{1, 2}, {7, 8});
  EXPECT_FALSE(c.grad().defined());
}

TEST(ShapeOps, StackForward) {
  Tensor a = tensor({1, 2, 3}, DType::f64);
  Tensor b = tensor({4, 5, 6}, DType::f64);
  std::vector<Tensor> ab{a, b};
  expect_values(stack(ab, 0), Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  expect_values(stack(ab, 1), Shape{3, 2}, {1, 4, 2, 5, 3, 6});
  expect_values(stack(ab, -1), Shape{3, 2}, {1, 4, 2, 5, 3, 6});
  expect_values(stack(ab, -2), Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  std::vector<Tensor> scalars{scalar(1, DType::f64), scalar(2, DType::f64)};
  expect_values(stack(scalars, 0), Shape{2}, {1, 2});
  // A sequence of time steps [B,F] stacked into [B,T,F].
  std::vector<Tensor> steps;
  for (int t = 0; t < 50; ++t) steps.push_back(full({4, 3}, t, DType::f64));
  Tensor seq = stack(steps, 1);
  ASSERT_EQ(seq.shape(), (Shape{4, 50, 3}));
  EXPECT_EQ(seq.at({2, 17, 1}), 17.0);
  EXPECT_EQ(seq.at({3, 49, 2}), 49.0);
}

TEST(ShapeOps, StackGradcheck) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return stack(v, 0); }, rnd({2, 3}, 50), rnd({2, 3}, 51));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return stack(v, 1); }, rnd({2, 3}, 52), rnd({2, 3}, 53),
                   rnd({2, 3}, 54));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return stack(v, -1); }, rnd({2, 1}, 55), rnd({2, 1}, 56));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return stack(v, 0); }, rnd({}, 57), rnd({}, 58));
  std::vector<Tensor> many;
  for (std::uint32_t i = 0; i < 12; ++i) many.push_back(rnd({2}, 60 + i));
  GradcheckResult r = gradcheck([](const std::vector<Tensor>& v) { return stack(v, 1); }, many);
  EXPECT_TRUE(r.ok) << r.message;
}

// ---- broadcast_to -----------------------------------------------------------------------------

TEST(ShapeOps, BroadcastToForward) {
  expect_values(broadcast_to(tensor({1, 2}, {2, 1}, DType::f64), {2, 3}), Shape{2, 3}, {1, 1, 1, 2, 2, 2});
  expect_values(broadcast_to(tensor({1, 2, 3}, DType::f64), {2, 3}), Shape{2, 3}, {1, 2, 3, 1, 2, 3});
  expect_values(broadcast_to(scalar(5, DType::f64), {2, 2}), Shape{2, 2}, {5, 5, 5, 5});
  expect_values(broadcast_to(tensor({1, 2}, DType::f64), {2}), Shape{2}, {1, 2});
  Tensor x = tensor({1, 2, 3}, {3, 1}, DType::f64);
  Tensor y = broadcast_to(x, {2, 3, 4});
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(y.at({1, 2, 3}), 3.0);
  EXPECT_EQ(y.at({0, 1, 0}), 2.0);
}

TEST(ShapeOps, BroadcastToGradcheck) {
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return broadcast_to(v[0], {2, 3, 4}); }, rnd({3, 1}, 70));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return broadcast_to(v[0], {3, 4}); }, rnd({4}, 71));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return broadcast_to(v[0], {2, 2}); }, rnd({}, 72));
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return broadcast_to(v[0], {3, 2}); }, rnd({3, 2}, 73));
}

TEST(ShapeOps, Float32Forward) {
  Tensor x = iota({2, 3}, DType::f32);
  EXPECT_EQ(reshape(x, {3, 2}).dtype(), DType::f32);
  expect_values(transpose(x), Shape{3, 2}, {0, 3, 1, 4, 2, 5});
  expect_values(permute(x, {1, 0}), Shape{3, 2}, {0, 3, 1, 4, 2, 5});
  expect_values(slice(x, 1, 1, 1), Shape{2, 1}, {1, 4});
  expect_values(select(x, 0, 1), Shape{3}, {3, 4, 5});
  std::vector<Tensor> xs{x, x};
  Tensor c = concat(xs, 0);
  EXPECT_EQ(c.dtype(), DType::f32);
  expect_values(c, Shape{4, 3}, {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5});
  expect_values(stack(xs, 2), Shape{2, 3, 2}, {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5});
  expect_values(broadcast_to(select(x, 0, 0), {2, 3}), Shape{2, 3}, {0, 1, 2, 0, 1, 2});
  expect_values(flatten(x), Shape{2, 3}, {0, 1, 2, 3, 4, 5});
}

TEST(ShapeOps, OutputsAreFreshTensors) {
  // Every op but reshape and flatten copies: writing to the result leaves the input alone.
  Tensor x = iota({2, 2});
  for (Tensor y : {transpose(x), permute(x, {0, 1}), slice(x, 0, 0, 2), broadcast_to(x, {2, 2})}) {
    y.fill_(-1);
    EXPECT_EQ(x.at({0, 0}), 0.0);
  }
}

}  // namespace
}  // namespace tg

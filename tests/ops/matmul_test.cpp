#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::rnd;

using testing::expect_values;

// The product by the textbook triple loop, batch by batch ([M,K] x [K,N] per batch).
std::vector<double> naive_matmul(const Tensor& a, const Tensor& b) {
  const std::vector<double> av = a.to_vector(), bv = b.to_vector();
  const std::int64_t k = a.size(-1), n = b.size(-1);
  const std::int64_t rows = a.numel() / k;
  const std::int64_t m = b.rank() == 3 ? a.size(-2) : rows;  // rows per batch
  std::vector<double> out(static_cast<std::size_t>(rows * n), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t boff = b.rank() == 3 ? (r / m) * k * n : 0;
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t p = 0; p < k; ++p)
        out[static_cast<std::size_t>(r * n + j)] +=
            av[static_cast<std::size_t>(r * k + p)] * bv[static_cast<std::size_t>(boff + p * n + j)];
  }
  return out;
}

TEST(Matmul, HandComputed) {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2}, DType::f64);
  Tensor b = tensor({5, 6, 7, 8}, {2, 2}, DType::f64);
  expect_values(matmul(a, b), Shape{2, 2}, {19, 22, 43, 50});
  Tensor c = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor d = tensor({1, 0, 0, 1, 1, 1}, {3, 2}, DType::f64);
  expect_values(matmul(c, d), Shape{2, 2}, {4, 5, 10, 11});
}

TEST(Matmul, MatchesTheTripleLoop) {
  struct Case {
    Shape a, b, out;
  };
  for (const Case& c :
       {Case{{3, 4}, {4, 5}, {3, 5}}, Case{{2, 3, 4}, {2, 4, 5}, {2, 3, 5}}, Case{{2, 3, 4}, {4, 5}, {2, 3, 5}},
        Case{{1, 1}, {1, 1}, {1, 1}}, Case{{1, 7}, {7, 1}, {1, 1}}, Case{{3, 1, 2}, {3, 2, 4}, {3, 1, 4}}}) {
    Tensor a = rnd(c.a, 1), b = rnd(c.b, 2);
    expect_values(matmul(a, b), c.out, naive_matmul(a, b));
  }
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  expect_values(matmul(zeros({2, 0}, DType::f64), zeros({0, 3}, DType::f64)), Shape{2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_EQ(matmul(zeros({0, 2}, DType::f64), zeros({2, 3}, DType::f64)).shape(), (Shape{0, 3}));
}

TEST(Matmul, Float32Forward) {
  Tensor a = rnd({2, 3, 4}, 3, DType::f32), b = rnd({4, 5}, 4, DType::f32);
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), DType::f32);
  expect_values(c, Shape{2, 3, 5}, naive_matmul(a, b), 1e-5);
  Tensor d = rnd({2, 4, 2}, 5, DType::f32);
  expect_values(matmul(a, d), Shape{2, 3, 2}, naive_matmul(a, d), 1e-5);
}

TEST(Matmul, Gradcheck) {
  auto mm = [](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); };
  EXPECT_GRADCHECK(mm, rnd({3, 4}, 10), rnd({4, 2}, 11));
  EXPECT_GRADCHECK(mm, rnd({2, 3, 4}, 12), rnd({2, 4, 5}, 13));
  EXPECT_GRADCHECK(mm, rnd({2, 3, 4}, 14), rnd({4, 5}, 15));
  EXPECT_GRADCHECK(mm, rnd({1, 1}, 16), rnd({1, 1}, 17));
  EXPECT_GRADCHECK(mm, rnd({1, 3}, 18), rnd({3, 1}, 19));
  EXPECT_GRADCHECK(mm, rnd({3, 1, 2}, 20), rnd({3, 2, 1}, 21));
  EXPECT_GRADCHECK(mm, rnd({3, 2, 1}, 22), rnd({1, 4}, 23));
}

TEST(Matmul, SharedWeightGradientsAdd) {
  // One weight used at several "time steps": its gradient is the sum (beta = 1 accumulation).
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& v) {
        Tensor h = matmul(v[0], v[1]);
        return matmul(tanh(h), v[1]) + matmul(v[0], v[1]);
      },
      rnd({2, 3}, 24), rnd({3, 3}, 25));
}

TEST(Matmul, OnlyTheInputsThatNeedGradientsGetThem) {
  Tensor a = rnd({2, 3}, 26).requires_grad_();
  Tensor b = rnd({3, 4}, 27);
  sum(matmul(a, b)).backward();
  ASSERT_TRUE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  // d sum(AB) / dA[i,p] = sum_j B[p,j]
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t p = 0; p < 3; ++p) {
      double row = 0;
      for (std::int64_t j = 0; j < 4; ++j) row += b.at({p, j});
      EXPECT_NEAR(a.grad().at({i, p}), row, 1e-12);
    }
}

TEST(Matmul, GradientAddsToAnExistingGradient) {
  Tensor a = rnd({2, 3}, 28);
  Tensor b = rnd({3, 4}, 29).requires_grad_();
  sum(matmul(a, b)).backward();
  Tensor first = b.grad().clone();
  sum(matmul(a, b)).backward();
  std::vector<double> twice = first.to_vector();
  for (double& v : twice) v *= 2;
  expect_values(b.grad(), Shape{3, 4}, twice);
}

// ---- linear -----------------------------------------------------------------------------------

TEST(Linear, HandComputed) {
  Tensor x = tensor({1, 2, 3, 4}, {2, 2}, DType::f64);
  Tensor w = tensor({1, 0, 2, 0, 1, 3}, {2, 3}, DType::f64);
  Tensor b = tensor({10, 20, 30}, DType::f64);
  expect_values(linear(x, w, b), Shape{2, 3}, {11, 22, 38, 13, 24, 48});
  expect_values(linear(x, w, Tensor()), Shape{2, 3}, {1, 2, 8, 3, 4, 18});
  expect_values(linear(tensor({1, 2}, DType::f64), w, b), Shape{3}, {11, 22, 38});
}

TEST(Linear, MatchesMatmulPlusBias) {
  Tensor x = rnd({4, 5, 3}, 30), w = rnd({3, 2}, 31), b = rnd({2}, 32);
  Tensor y = linear(x, w, b);
  Tensor ref = matmul(x, w) + b;
  expect_values(y, Shape{4, 5, 2}, ref.to_vector());
  EXPECT_EQ(linear(rnd({0, 3}, 33), w, b).shape(), (Shape{0, 2}));
  expect_values(linear(rnd({2, 0}, 34), zeros({0, 2}, DType::f64), b), Shape{2, 2},
                {b.at({0}), b.at({1}), b.at({0}), b.at({1})});
}

TEST(Linear, IsOneNode) {
  Tensor x = rnd({4, 3}, 35), w = rnd({3, 2}, 36).requires_grad_(), b = rnd({2}, 37).requires_grad_();
  Tensor y = linear(x, w, b);
  EXPECT_EQ(tape().num_nodes(), 1u);
}

TEST(Linear, Float32Forward) {
  Tensor x = rnd({3, 4}, 38, DType::f32), w = rnd({4, 5}, 39, DType::f32), b = rnd({5}, 40, DType::f32);
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.dtype(), DType::f32);
  expect_values(y, Shape{3, 5}, (matmul(x, w) + b).to_vector(), 1e-6);
}

TEST(Linear, Gradcheck) {
  auto lin = [](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); };
  auto lin_nobias = [](const std::vector<Tensor>& v) { return linear(v[0], v[1], Tensor()); };
  EXPECT_GRADCHECK(lin, rnd({4, 3}, 41), rnd({3, 2}, 42), rnd({2}, 43));
  EXPECT_GRADCHECK(lin, rnd({2, 3, 4}, 44), rnd({4, 5}, 45), rnd({5}, 46));
  EXPECT_GRADCHECK(lin, rnd({3}, 47), rnd({3, 2}, 48), rnd({2}, 49));
  EXPECT_GRADCHECK(lin, rnd({1, 1}, 50), rnd({1, 1}, 51), rnd({1}, 52));
  EXPECT_GRADCHECK(lin_nobias, rnd({4, 3}, 53), rnd({3, 2}, 54));
  EXPECT_GRADCHECK(lin_nobias, rnd({2, 2, 3}, 55), rnd({3, 1}, 56));
}

TEST(Linear, BiasGradientIsTheColumnSums) {
  Tensor x = rnd({3, 2}, 57), w = rnd({2, 4}, 58);
  Tensor b = zeros({4}, DType::f64).requires_grad_();
  Tensor g = rnd({3, 4}, 59);
  linear(x, w, b).backward(g);
  std::vector<double> want(4, 0.0);
  for (std::int64_t r = 0; r < 3; ++r)
    for (std::int64_t j = 0; j < 4; ++j) want[static_cast<std::size_t>(j)] += g.at({r, j});
  expect_values(b.grad(), Shape{4}, want);
}

}  // namespace
}  // namespace tg

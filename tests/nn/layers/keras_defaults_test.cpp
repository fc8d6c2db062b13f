// The Keras defaults that the walkthrough's convolutional models rely on, pinned: Adam's
// hyperparameters and epsilon placement, Conv1D's glorot_uniform fans, the GRU's initialisers,
// and fit's batch size, shuffling and loss (docs/forecast-spread.md).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/adam.h>

namespace tg {
namespace {

// Variance and largest magnitude of a tensor's values.
struct Stats {
  double var = 0, max_abs = 0;
};
Stats stats(const Tensor& t) {
  const auto v = t.to_vector();
  double sum = 0, sq = 0, max_abs = 0;
  for (double x : v) sum += x, sq += x * x, max_abs = std::max(max_abs, std::abs(x));
  const double n = static_cast<double>(v.size()), mean = sum / n;
  return {sq / n - mean * mean, max_abs};
}

TEST(KerasDefaults, AdamIsKerasAdamWithEpsilonOneEMinusSeven) {
  Tensor w = tensor({0.0}, DType::f64).requires_grad_();
  Adam opt({w});
  EXPECT_EQ(opt.learning_rate(), 0.001);
  EXPECT_EQ(opt.beta1(), 0.9);
  EXPECT_EQ(opt.beta2(), 0.999);
  EXPECT_EQ(opt.epsilon(), 1e-7);
  EXPECT_EQ(opt.epsilon_mode(), EpsilonMode::keras);
  // A tiny first gradient shows both epsilon and where it is added: Keras moves by
  // lr * sqrt(1 - b2) g / (sqrt(1 - b2) g + 1e-7), about 0.24 lr for g = 1e-6, where torch's
  // placement (or an epsilon of 1e-8) would move by nearly lr.
  const double g = 1e-6, lr = 0.001;
  w.set_grad(tensor({g}, DType::f64));
  opt.step();
  const double c = std::sqrt(1 - 0.999) * g;
  EXPECT_NEAR(w.at({0}), -lr * c / (c + 1e-7), 1e-15);
}

TEST(KerasDefaults, Conv1DKernelFansIncludeTheKernelSize) {
  manual_seed(11);
  Conv1D conv(64, 3);
  conv.build({-1, -1, 32});
  // glorot_uniform on [3, 32, 64]: fan_in = 3 * 32, fan_out = 3 * 64 (not 32 and 64)
  const double limit = std::sqrt(6.0 / (3 * 32 + 3 * 64));
  const Stats s = stats(conv.kernel);
  EXPECT_LE(s.max_abs, limit);
  EXPECT_GT(s.max_abs, 0.99 * limit);                               // 6144 draws reach the edge
  EXPECT_NEAR(s.var, limit * limit / 3, 0.05 * limit * limit / 3);  // U(-l, l): variance l^2 / 3
  for (double v : conv.bias.to_vector()) EXPECT_EQ(v, 0.0);
}

TEST(KerasDefaults, GruGlorotKernelOrthogonalRecurrentKernelZeroBiases) {
  manual_seed(12);
  GRU gru(20);
  gru.build({-1, -1, 1});
  auto& c = static_cast<GRUCell&>(gru.cell());
  const double limit = std::sqrt(6.0 / (1 + 60));
  const Stats k = stats(c.kernel);
  EXPECT_LE(k.max_abs, limit);
  EXPECT_GT(k.max_abs, 0.8 * limit);
  // Orthogonal over the whole [20, 60] matrix (Keras), not gate by gate: U U^T = I exactly.
  Tensor uut = matmul(c.recurrent_kernel, transpose(c.recurrent_kernel));
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j < 20; ++j) EXPECT_NEAR(uut.at({i, j}), i == j ? 1.0 : 0.0, 1e-5) << i << ", " << j;
  EXPECT_EQ(c.bias.shape(), (Shape{2, 60}));  // reset_after: input and recurrent bias rows
  for (double v : c.bias.to_vector()) EXPECT_EQ(v, 0.0);
}

TEST(KerasDefaults, FitBatchesOf32ShuffledWithTheMeanSquaredErrorOverAllElements) {
  FitOptions fo;
  EXPECT_EQ(fo.batch_size, 32);
  EXPECT_TRUE(fo.shuffle);
  // Keras' "mse" on [B, T, 10] outputs: the mean over the last axis, then over batch and steps,
  // that is, the mean over every element.
  Generator gen(5);
  Tensor y = uniform({4, 3, 10}, -1, 1, DType::f64, &gen), p = uniform({4, 3, 10}, -1, 1, DType::f64, &gen);
  const auto a = y.to_vector(), b = p.to_vector();
  double want = 0;
  for (std::size_t i = 0; i < a.size(); ++i) want += (a[i] - b[i]) * (a[i] - b[i]);
  want /= static_cast<double>(a.size());
  EXPECT_NEAR(fo.loss(y, p).item(), want, 1e-14);
}

}  // namespace
}  // namespace tg

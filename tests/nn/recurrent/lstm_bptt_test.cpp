// BPTT through an LSTM over long sequences, in float64: the per-step gradient norms of an LSTM
// (RNN::step_gradient_norms) are those of dLoss/dh_t for its output h_t, checked element by
// element against finite differences of the loss run on from (h_t, c_t); and the gradients of
// every parameter and input over 30 steps pass the gradient checker, with Keras' forget bias and
// with one large enough that the gradient reaching step 0 through c_t is far from negligible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

constexpr std::int64_t kB = 2, kT = 30, kF = 2, kU = 3;

void set_forget_bias(LSTMCell& cell, double value) {
  std::vector<double> b = cell.bias.to_vector();
  for (std::int64_t j = 0; j < kU; ++j) b[static_cast<std::size_t>(kU + j)] = value;
  cell.bias.copy_from(from_vector(std::span<const double>(b), cell.bias.shape(), cell.bias.dtype()));
}

TEST(LstmBptt, StepGradientNormsAreDLossDhOfTheOutputOverThirtySteps) {
  manual_seed(21);
  Sequential m(Input{None, kF}, LSTM(kU), Dense(1));
  m.to(DType::f64);
  auto& lstm = dynamic_cast<LSTM&>(m[0]);
  Generator g(4);
  const Tensor x = uniform({kB, kT, kF}, -1.0, 1.0, DType::f64, &g);
  const Tensor y = uniform({kB, 1}, -1.0, 1.0, DType::f64, &g);

  track_step_gradients(m);
  mse(y, m(x)).backward();
  const std::vector<double> norms = lstm.step_gradient_norms();
  ASSERT_EQ(norms.size(), static_cast<std::size_t>(kT));
  std::vector<std::vector<double>> h_values, h_grads;  // copied: the forwards below replace them
  for (const Tensor& h : lstm.step_outputs()) {
    h_values.push_back(h.to_vector());
    h_grads.push_back(h.grad().to_vector());
  }
  track_step_gradients(m, false);

  NoGradGuard no_grad;
  // The loss as a function of the states after step t: the remaining steps run from (h, c).
  const auto loss_from = [&](std::int64_t t, const Tensor& h, const Tensor& c) {
    Tensor last = t + 1 < kT ? lstm.forward_with_states(slice(x, 1, t + 1, kT - t - 1), {h, c}).second[0] : h;
    return mse(y, m[1](last)).item();
  };
  const double eps = 1e-6;
  for (std::int64_t t : {0, 1, 10, 20, 28, 29}) {
    SCOPED_TRACE("t = " + std::to_string(t));
    const States states = lstm.forward_with_states(slice(x, 1, 0, t + 1), {}).second;  // {h_t, c_t}
    ASSERT_EQ(states[0].to_vector(), h_values[static_cast<std::size_t>(t)]);           // the tracked tensor is h_t
    const std::vector<double>& grad = h_grads[static_cast<std::size_t>(t)];
    double sq = 0.0, largest = 0.0;
    for (std::size_t k = 0; k < grad.size(); ++k) {
      Tensor up = states[0].clone(), down = states[0].clone();
      up.data<double>()[k] += eps;
      down.data<double>()[k] -= eps;
      const double numeric = (loss_from(t, up, states[1]) - loss_from(t, down, states[1])) / (2 * eps);
      EXPECT_NEAR(grad[k], numeric, 1e-10 + 1e-6 * std::abs(numeric)) << "element " << k;
      sq += grad[k] * grad[k];
      largest = std::max(largest, std::abs(numeric));
    }
    EXPECT_NEAR(norms[static_cast<std::size_t>(t)], std::sqrt(sq), 1e-14);
    EXPECT_GT(largest, 1e-5);  // far above the tolerance even at step 0 (7.9e-5 there)
  }
}

TEST(LstmBptt, GradcheckThroughThirtyStepsWithSmallAndLargeForgetBias) {
  for (double forget_bias : {1.0, 4.0}) {
    SCOPED_TRACE("forget bias " + std::to_string(forget_bias));
    manual_seed(22);
    Sequential m(Input{None, kF}, LSTM(kU), Dense(1));
    m.to(DType::f64);
    set_forget_bias(dynamic_cast<LSTMCell&>(dynamic_cast<LSTM&>(m[0]).cell()), forget_bias);
    Generator g(5);
    Tensor x = uniform({kB, kT, kF}, -1.0, 1.0, DType::f64, &g);
    std::vector<Tensor> leaves = m.parameters();
    leaves.push_back(x);
    const GradcheckResult r = gradcheck_leaves([&] { return m(x); }, leaves);
    EXPECT_TRUE(r.ok) << r.message;

    // What reaches x_0 across the 29 later steps, against what reaches x_29: with forget gates
    // near sigmoid(4) = 0.98 the path through c_t carries a sizeable part back (so the check
    // above compares real numbers there, not values under its tolerance).
    Tensor xg = x.clone().requires_grad_();
    sum(m(xg)).backward();
    const std::vector<double> dx = xg.grad().to_vector();  // [B, T, F]
    const auto step_norm = [&](std::int64_t t) {
      double sq = 0.0;
      for (std::int64_t b = 0; b < kB; ++b)
        for (std::int64_t f = 0; f < kF; ++f) sq += std::pow(dx[static_cast<std::size_t>((b * kT + t) * kF + f)], 2);
      return std::sqrt(sq);
    };
    const double ratio = step_norm(0) / step_norm(kT - 1);
    if (forget_bias == 1.0) {
      EXPECT_LT(ratio, 1e-2) << ratio;
    } else {
      EXPECT_GT(ratio, 1e-1) << ratio;
      EXPECT_GT(step_norm(0), 1e4 * GradcheckOptions{}.atol) << step_norm(0);
    }
  }
}

}  // namespace
}  // namespace tg

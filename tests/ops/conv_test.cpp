// conv1d and layer_norm: float64 gradient checks (every padding mode, strides and dilations),
// the definition on hand-computed values, and the typed errors with expected and got.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"
#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::error_of;
using testing::rnd;

TEST(Conv1d, HandComputedValidCausalAndStrided) {
  // x = 1..5 (one feature), kernel taps (1, 10), no bias: y_t = x_{t} + 10 x_{t+1} (valid).
  Tensor x = tensor({1, 2, 3, 4, 5}, {1, 5, 1}, DType::f64);
  Tensor w = tensor({1, 10}, {2, 1, 1}, DType::f64);
  testing::expect_values(conv1d(x, w, Tensor()), {1, 4, 1}, {21, 32, 43, 54});
  // causal: one zero before, y_t = x_{t-1} + 10 x_t
  testing::expect_values(conv1d(x, w, Tensor(), {.pad_left = 1}), {1, 5, 1}, {10, 21, 32, 43, 54});
  // stride 2, dilation 2: y_t = x_{2t} + 10 x_{2t+2}
  testing::expect_values(conv1d(x, w, Tensor(), {.stride = 2, .dilation = 2}), {1, 2, 1}, {31, 53});
  // bias added to every step and filter
  testing::expect_values(conv1d(x, w, tensor({0.5}, DType::f64)), {1, 4, 1}, {21.5, 32.5, 43.5, 54.5});
}

TEST(Conv1d, GradcheckEveryPaddingStrideAndDilation) {
  const Padding modes[] = {Padding::valid, Padding::causal, Padding::same};
  std::uint32_t seed = 1;
  for (Padding mode : modes)
    for (std::int64_t k : {1, 2, 3})
      for (std::int64_t s : {1, 2, 3})
        for (std::int64_t d : {1, 2}) {
          const std::int64_t steps = 9;
          Conv1D layer(4, k, {.strides = s, .padding = mode, .dilation_rate = d});
          const Conv1dOptions o = layer.conv_options(steps);
          SCOPED_TRACE(fmt::format("{} k{} s{} d{}", padding_name(mode), k, s, d));
          auto f = [o](const std::vector<Tensor>& in) { return conv1d(in[0], in[1], in[2], o); };
          EXPECT_GRADCHECK(f, rnd({2, steps, 3}, seed), rnd({k, 3, 4}, seed + 1), rnd({4}, seed + 2));
          seed += 3;
        }
}

TEST(Conv1d, GradcheckWithoutBiasAndStacked) {
  auto f = [](const std::vector<Tensor>& in) {
    Tensor h = relu(conv1d(in[0], in[1], Tensor(), {.dilation = 1, .pad_left = 1}));
    return conv1d(h, in[2], Tensor(), {.dilation = 2, .pad_left = 2});
  };
  EXPECT_GRADCHECK(f, rnd({3, 8, 2}, 41), rnd({2, 2, 3}, 42), rnd({2, 3, 2}, 43));
}

TEST(Conv1d, OutputStepsFollowThePaddingRules) {
  EXPECT_EQ(Conv1D(1, 4, {.strides = 2}).output_steps(50), 24);  // the walkthrough's Conv1D + GRU
  EXPECT_EQ(Conv1D(1, 2, {.padding = Padding::causal, .dilation_rate = 8}).output_steps(50), 50);
  EXPECT_EQ(Conv1D(1, 3, {.strides = 2, .padding = Padding::same}).output_steps(9), 5);
  const Conv1dOptions o = Conv1D(1, 4, {.padding = Padding::same}).conv_options(7);
  EXPECT_EQ(o.pad_left, 1);  // the odd zero goes after, as TensorFlow's SAME
  EXPECT_EQ(o.pad_right, 2);
  EXPECT_EQ(Conv1D(1, 3, {.padding = Padding::causal, .dilation_rate = 3}).conv_options(5).pad_left, 6);
}

TEST(Conv1d, ErrorsNameTheOpWithExpectedAndGot) {
  Tensor x = rnd({2, 5, 3}, 1), w = rnd({2, 3, 4}, 2), b = rnd({4}, 3);
  EXPECT_EQ(error_of<ShapeError>([&] {
              conv1d(rnd({5, 3}, 1), w, b);
            }),
            "conv1d: input [5,3], expected [batch, time, features]");
  EXPECT_EQ(error_of<ShapeError>([&] {
              conv1d(x, rnd({2, 3}, 2), b);
            }),
            "conv1d: kernel [2,3], expected [kernel_size, features, filters]");
  EXPECT_EQ(error_of<ShapeError>([&] {
              conv1d(x, rnd({2, 2, 4}, 2), b);
            }),
            "conv1d: input [2,5,3] and kernel [2,2,4]: input features 3 != kernel features 2");
  EXPECT_EQ(error_of<ShapeError>([&] { conv1d(x, w, rnd({3}, 3)); }),
            "conv1d: bias [3] for kernel [2,3,4]: expected [4]");
  EXPECT_EQ(error_of<ShapeError>([&] {
              conv1d(x, rnd({4, 3, 4}, 2), b, {.dilation = 2});
            }),
            "conv1d: input [2,5,3] has 5 steps (5 with padding); the kernel spans 7 (kernel_size 4, dilation 2): "
            "expected at least 7 steps");
  EXPECT_EQ(error_of<ValueError>([&] { conv1d(x, w, b, {.stride = 0}); }), "conv1d: stride must be >= 1, got 0");
  EXPECT_EQ(error_of<ValueError>([&] { conv1d(x, w, b, {.dilation = -1}); }), "conv1d: dilation must be >= 1, got -1");
  EXPECT_EQ(error_of<ValueError>([&] { conv1d(x, w, b, {.pad_left = -1}); }),
            "conv1d: padding must be >= 0, got (-1, 0)");
  EXPECT_EQ(error_of<DTypeError>([&] { conv1d(x, w.to(DType::f32), b); }),
            "conv1d: input is float64, kernel float32, bias float64; expected one dtype");
}

TEST(LayerNorm, NormalisesTheLastAxis) {
  Tensor x = tensor({1, 2, 3, 4, -1, -1, -1, -1}, {2, 4}, DType::f64);
  Tensor y = layer_norm(select(x, 0, 0), ones({4}, DType::f64), zeros({4}, DType::f64), 0.0);
  const double r = 1.0 / std::sqrt(1.25);  // variance of 1..4 is 1.25
  testing::expect_values(y, {4}, {-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r});
  // epsilon keeps a constant row finite; gamma scales and beta shifts
  Tensor z = layer_norm(x, full({4}, 2.0, DType::f64), full({4}, 0.25, DType::f64));
  EXPECT_NEAR(z.at({1, 0}), 0.25, 1e-15);
  EXPECT_NEAR(z.at({0, 3}), 2 * 1.5 / std::sqrt(1.25 + 1e-3) + 0.25, 1e-12);
}

TEST(LayerNorm, Gradcheck) {
  auto f = [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); };
  EXPECT_GRADCHECK(f, rnd({3, 4, 5}, 51, -2.0, 2.0), rnd({5}, 52, 0.5, 1.5), rnd({5}, 53));
  auto g = [](const std::vector<Tensor>& in) { return tanh(layer_norm(in[0], in[1], in[2], 1e-5)); };
  EXPECT_GRADCHECK(g, rnd({6, 3}, 54), rnd({3}, 55, 0.5, 1.5), rnd({3}, 56));
}

TEST(LayerNorm, Errors) {
  Tensor x = rnd({2, 4}, 1), g = ones({4}, DType::f64), b = zeros({4}, DType::f64);
  EXPECT_EQ(error_of<ShapeError>([&] { layer_norm(x, ones({3}, DType::f64), b); }),
            "layer_norm: gamma [3] and beta [4] for input [2,4]: expected [4] each");
  EXPECT_EQ(error_of<ShapeError>([&] { layer_norm(scalar(1.0, DType::f64), g, b); }),
            "layer_norm: input [], expected [..., D] with D > 0");
  EXPECT_EQ(error_of<ValueError>([&] { layer_norm(x, g, b, -1.0); }), "layer_norm: epsilon must be >= 0, got -1");
  EXPECT_EQ(error_of<DTypeError>([&] { layer_norm(x, g.to(DType::f32), b); }),
            "layer_norm: input is float64, gamma float32, beta float64; expected one dtype");
}

}  // namespace
}  // namespace tg

// Conv1D, LayerNormalization, Dropout and LNSimpleRNNCell as layers: built shapes, Keras'
// initialisation, summaries, train/eval behaviour in fit/evaluate/predict, gradient checks of
// whole layers in float64, and the typed errors.

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

using testing::error_of;

Tensor rnd(const Shape& s, std::uint32_t seed, DType d = DType::f64) {
  Generator g(seed);
  return uniform(s, -1.0, 1.0, d, &g);
}

// ---- Conv1D --------------------------------------------------------------------------------------

TEST(Conv1DLayer, ShapesParametersAndKerasInit) {
  manual_seed(3);
  Conv1D conv(20, 4, {.strides = 2});
  EXPECT_EQ(conv.build({-1, 50, 1}), (Dims{-1, 24, 20}));
  EXPECT_EQ(conv.kernel.shape(), (Shape{4, 1, 20}));
  EXPECT_EQ(conv.bias.shape(), (Shape{20}));
  EXPECT_EQ(conv.num_parameters(), 4 * 20 + 20);
  // glorot_uniform with fan_in = 4 * 1 and fan_out = 4 * 20, zero bias
  const double limit = std::sqrt(6.0 / (4 + 80));
  double max_abs = 0;
  for (double v : conv.kernel.to_vector()) max_abs = std::max(max_abs, std::abs(v));
  EXPECT_LE(max_abs, limit);
  EXPECT_GT(max_abs, 0.8 * limit);
  for (double v : conv.bias.to_vector()) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(conv(rnd({3, 50, 1}, 1, DType::f32)).shape(), (Shape{3, 24, 20}));
  // an unknown number of steps builds to None and runs on any length the kernel fits
  Conv1D causal(5, 2, {.padding = Padding::causal, .dilation_rate = 8});
  EXPECT_EQ(causal.build({-1, -1, 3}), (Dims{-1, -1, 5}));
  EXPECT_EQ(causal(rnd({2, 1, 3}, 2, DType::f32)).shape(), (Shape{2, 1, 5}));
  EXPECT_EQ(causal(rnd({2, 17, 3}, 2, DType::f32)).shape(), (Shape{2, 17, 5}));
}

TEST(Conv1DLayer, CausalOutputsDoNotSeeTheFuture) {
  Conv1D conv(3, 2, {.padding = Padding::causal, .dilation_rate = 2});
  conv.build({-1, -1, 2});
  conv.to(DType::f64);
  Tensor x = rnd({1, 8, 2}, 5);
  Tensor y = conv(x);
  Tensor x2 = x.clone();
  x2.set({0, 5, 0}, 10.0);  // a change at t = 5 leaves outputs before t = 5 alone
  Tensor y2 = conv(x2);
  for (std::int64_t t = 0; t < 8; ++t)
    for (std::int64_t o = 0; o < 3; ++o) {
      if (t < 5) {
        EXPECT_EQ(y.at({0, t, o}), y2.at({0, t, o})) << t;
      } else if (t == 5) {
        EXPECT_NE(y.at({0, t, o}), y2.at({0, t, o})) << t;
      }
    }
}

TEST(Conv1DLayer, GradcheckOfTheLayerParameters) {
  for (Padding mode : {Padding::valid, Padding::causal, Padding::same}) {
    SCOPED_TRACE(padding_name(mode));
    Conv1D conv(3, 3, {.strides = 2, .padding = mode, .dilation_rate = 2, .activation = activations::tanh});
    conv.build({-1, 9, 2});
    conv.to(DType::f64);
    Tensor x = rnd({2, 9, 2}, 7);
    GradcheckResult r = gradcheck_leaves([&] { return conv(x); }, conv.parameters());
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(Conv1DLayer, SummaryNamesAndCounts) {
  Sequential m(Input{None, 1}, Conv1D(20, 2, {.padding = Padding::causal, .activation = activations::relu}),
               Conv1D(10, 1));
  const std::string s = m.summary();
  EXPECT_NE(s.find("conv1d (Conv1D)"), std::string::npos) << s;
  EXPECT_NE(s.find("conv1d_1 (Conv1D)"), std::string::npos) << s;
  EXPECT_NE(s.find("(None, None, 10)"), std::string::npos) << s;
  EXPECT_EQ(m.num_parameters(), (2 * 1 * 20 + 20) + (20 * 10 + 10));
}

TEST(Conv1DLayer, Errors) {
  EXPECT_EQ(error_of<ValueError>([] { Conv1D(0, 2); }), "Conv1D: filters must be positive, got 0");
  EXPECT_EQ(error_of<ValueError>([] { Conv1D(4, 0); }), "Conv1D: kernel_size must be positive, got 0");
  EXPECT_EQ(error_of<ValueError>([] { Conv1D(4, 2, {.strides = -1}); }), "Conv1D: strides must be positive, got -1");
  EXPECT_EQ(error_of<ValueError>([] { Conv1D(4, 2, {.dilation_rate = 0}); }),
            "Conv1D: dilation_rate must be positive, got 0");
  EXPECT_EQ(error_of<ValueError>([] { Conv1D(4, 2, {.padding = static_cast<Padding>(7)}); }),
            "Conv1D: padding must be valid, causal or same, got 7");
  EXPECT_EQ(error_of<ShapeError>([] {
              Conv1D(4, 2).build({-1, 5});
            }),
            "Conv1D: input (None, 5) must be (batch, time, features) with known features");
  EXPECT_EQ(error_of<ShapeError>([] {
              Conv1D(4, 4, {.dilation_rate = 2}).build({-1, 6, 1});
            }),
            "Conv1D: input (None, 6, 1) has 6 time steps; kernel_size 4 with dilation_rate 2 and padding valid "
            "needs at least 7");
  Conv1D conv(4, 3);
  conv.set_name("conv");
  conv.build({-1, -1, 2});
  EXPECT_EQ(error_of<ShapeError>([&] {
              conv(rnd({2, 2, 2}, 1, DType::f32));
            }),
            "Conv1D (conv): input [2,2,2] has 2 time steps; kernel_size 3 with dilation_rate 1 and padding valid "
            "needs at least 3");
  EXPECT_EQ(error_of<ShapeError>([&] {
              conv(rnd({2, 5, 3}, 1, DType::f32));
            }),
            "Conv1D (conv): input [2,5,3], expected [batch, time, 2]");
  EXPECT_EQ(error_of<ShapeError>([&] {
              conv(rnd({2, 5}, 1, DType::f32));
            }),
            "Conv1D (conv): input [2,5], expected [batch, time, features]");
}

// ---- LayerNormalization ----------------------------------------------------------------------

TEST(LayerNormalizationLayer, KerasDefaultsAndGradcheck) {
  LayerNormalization ln;
  EXPECT_EQ(ln.epsilon(), 1e-3);
  EXPECT_EQ(ln.build({-1, 7, 4}), (Dims{-1, 7, 4}));
  EXPECT_EQ(ln.gamma.to_vector(), std::vector<double>(4, 1.0));
  EXPECT_EQ(ln.beta.to_vector(), std::vector<double>(4, 0.0));
  EXPECT_EQ(ln.num_parameters(), 8);
  ln.to(DType::f64);
  ln.gamma.copy_from(tensor({0.5, 1.5, 1.0, 2.0}, DType::f64));
  Tensor x = rnd({3, 7, 4}, 9);
  GradcheckResult r = gradcheck_leaves([&] { return ln(x); }, ln.parameters());
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(error_of<ShapeError>([&] { ln(rnd({3, 5}, 1)); }), "LayerNormalization: input [3,5], expected [..., 4]");
  EXPECT_EQ(error_of<ValueError>([] { LayerNormalization(-0.5); }),
            "LayerNormalization: epsilon must be >= 0, got -0.5");
}

// ---- Dropout -----------------------------------------------------------------------------------

TEST(DropoutLayer, TrainingDropsAndRescalesEvaluationIsIdentity) {
  Dropout drop(0.25, 7);
  Tensor x = ones({200, 50}, DType::f64).requires_grad_();
  Tensor y = drop(x);  // a new module trains by default
  std::int64_t zeros_seen = 0;
  for (double v : y.to_vector()) {
    if (v == 0.0)
      ++zeros_seen;
    else
      EXPECT_DOUBLE_EQ(v, 1.0 / 0.75);
  }
  EXPECT_NEAR(static_cast<double>(zeros_seen) / 10000.0, 0.25, 0.02);
  sum(y).backward();  // the gradient is the same mask, scaled
  EXPECT_EQ(x.grad().to_vector(), y.to_vector());
  drop.eval();
  Tensor z = drop(x);
  EXPECT_EQ(z.to_vector(), x.to_vector());
  // the same seed gives the same masks
  Dropout a(0.5, 11), b(0.5, 11);
  EXPECT_EQ(a(x).to_vector(), b(x).to_vector());
  EXPECT_EQ(error_of<ValueError>([] { Dropout(1.0); }), "Dropout: rate must be in [0, 1), got 1");
  EXPECT_EQ(error_of<ValueError>([] { Dropout(-0.1); }), "Dropout: rate must be in [0, 1), got -0.1");
}

TEST(DropoutLayer, FitTrainsWithItEvaluateAndPredictRunWithout) {
  manual_seed(1);
  Sequential m(Input{4}, Dense(8, activations::tanh), Dropout(0.5, 3), Dense(1));
  Tensor x = rnd({64, 4}, 21, DType::f32), y = rnd({64, 1}, 22, DType::f32);
  // predict and evaluate: dropout off, so deterministic and equal to the model in eval mode
  Tensor p1 = predict(m, x), p2 = predict(m, x);
  EXPECT_EQ(p1.to_vector(), p2.to_vector());
  EXPECT_TRUE(m.training());  // restored after predict
  m.eval();
  Tensor direct = m(x);
  m.train();
  EXPECT_EQ(p1.to_vector(), direct.to_vector());
  const double eval_loss = evaluate(m, x, y).at("loss");
  EXPECT_NEAR(eval_loss, mse(y, direct).item(), 1e-6);
  // in training mode the outputs change from call to call
  EXPECT_NE(m(x).to_vector(), m(x).to_vector());
  // fit trains in training mode (the loss it reports has dropout), validation without
  SGD opt(m.parameters(), 1e-30);  // the weights stay (to 1e-30), only the modes differ
  FitOptions fo;
  fo.epochs = 1;
  fo.batch_size = 64;
  fo.optimizer = &opt;
  fo.shuffle = false;
  fo.verbose = 0;
  fo.validation_data = std::make_pair(x, y);
  History h = fit(m, x, y, fo);
  EXPECT_NEAR(h["val_loss"].back(), eval_loss, 1e-6);
  EXPECT_NE(h["loss"].back(), h["val_loss"].back());
}

// ---- LNSimpleRNNCell ---------------------------------------------------------------------------

TEST(LNSimpleRNNCellLayer, RunsInRNNAndStacksWithGradcheck) {
  manual_seed(4);
  RNN rnn(std::make_shared<LNSimpleRNNCell>(3), {.return_sequences = true});
  EXPECT_EQ(rnn.build({-1, -1, 2}), (Dims{-1, -1, 3}));
  // W [2,3], U [3,3], b [3], gamma [3], beta [3]
  EXPECT_EQ(rnn.num_parameters(), 6 + 9 + 3 + 3 + 3);
  auto names = rnn.named_parameters();
  ASSERT_EQ(names.size(), 5u);
  EXPECT_EQ(names[3].first, "cell.layer_norm.gamma");
  rnn.to(DType::f64);
  Tensor x = rnd({2, 4, 2}, 31);
  GradcheckResult r = gradcheck_leaves([&] { return rnn(x); }, rnn.parameters());
  EXPECT_TRUE(r.ok) << r.message;
  // each output row is a tanh of a normalised vector: bounded, and a stack trains end to end
  Sequential m(Input{None, 1}, RNN(std::make_shared<LNSimpleRNNCell>(8), {.return_sequences = true}),
               RNN(std::make_shared<LNSimpleRNNCell>(8)), Dense(1));
  Tensor xs = rnd({32, 10, 1}, 32, DType::f32);
  Tensor ys = sum(xs, {1}) * 0.1;
  SGD opt(m.parameters(), 0.1);
  FitOptions fo;
  fo.epochs = 30;
  fo.optimizer = &opt;
  fo.verbose = 0;
  History h = fit(m, xs, ys.detach(), fo);
  EXPECT_LT(h["loss"].back(), 0.5 * h["loss"].front());
  EXPECT_EQ(error_of<ValueError>([] { LNSimpleRNNCell(0); }), "LNSimpleRNNCell: units must be positive, got 0");
}

}  // namespace
}  // namespace tg

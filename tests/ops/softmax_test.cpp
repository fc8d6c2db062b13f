// softmax, log_softmax and the cross-entropy losses: hand-computed values, float64 gradient
// checks, finiteness at logits of +-100, typed errors, and PyTorch's numbers
// (tests/goldens/softmax.txt from scripts/make_softmax_goldens.py).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>

#include <tapegrad/tapegrad.h>

#include "support/golden_reader.h"
#include "support/error_of.h"
#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;
using testing::rnd;
using V = std::vector<Tensor>;

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

// ---- softmax and log_softmax ----------------------------------------------------------------

TEST(Softmax, HandComputedAndRowsSumToOne) {
  Tensor x = tensor({0, 1, 2, 5, 5, 5}, {2, 3}, DType::f64);
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  testing::expect_values(softmax(x), {2, 3}, {1 / z, std::exp(1.0) / z, std::exp(2.0) / z, 1. / 3, 1. / 3, 1. / 3},
                         1e-15);
  testing::expect_values(
      log_softmax(x), {2, 3},
      {-std::log(z), 1 - std::log(z), 2 - std::log(z), -std::log(3.0), -std::log(3.0), -std::log(3.0)}, 1e-14);
  Tensor s = softmax(rnd({3, 4, 5}, 1), 1);
  Tensor totals = sum(s, {1});
  for (double v : totals.to_vector()) EXPECT_NEAR(v, 1.0, 1e-14);
}

TEST(Softmax, LogSoftmaxIsTheLogOfSoftmaxOnEveryAxis) {
  Tensor x = rnd({2, 3, 4}, 2, -3.0, 3.0);
  for (int axis : {0, 1, 2, -1, -3}) {
    std::vector<double> a = log_softmax(x, axis).to_vector(), b = log(softmax(x, axis)).to_vector();
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-13) << "axis " << axis;
  }
}

TEST(Softmax, Gradcheck) {
  for (int axis : {-1, 0, 1}) {
    auto sm = [axis](const V& v) { return softmax(v[0], axis); };
    auto lsm = [axis](const V& v) { return log_softmax(v[0], axis); };
    EXPECT_GRADCHECK(sm, rnd({3, 4}, 3, -2.0, 2.0));
    EXPECT_GRADCHECK(lsm, rnd({3, 4}, 4, -2.0, 2.0));
    EXPECT_GRADCHECK(sm, rnd({2, 3, 4}, 5, -2.0, 2.0));
    EXPECT_GRADCHECK(lsm, rnd({2, 3, 4}, 6, -2.0, 2.0));
  }
  EXPECT_GRADCHECK([](const V& v) { return softmax(v[0]); }, rnd({5}, 7));
}

TEST(Softmax, ExtremeLogitsStayFinite) {
  for (DType d : {DType::f32, DType::f64}) {
    Tensor x = tensor({100, -100, 0, -100, -100, -100, 1000, 999, -1000}, {3, 3}, d).requires_grad_();
    Tensor s = softmax(x), l = log_softmax(x);
    EXPECT_TRUE(all_finite(s) && all_finite(l));
    EXPECT_NEAR(s.at({0, 0}), 1.0, 1e-6);
    EXPECT_NEAR(s.at({1, 1}), 1.0 / 3.0, 1e-6);
    EXPECT_NEAR(l.at({0, 1}), -200.0, 1e-4);
    // float32 resolves 1000.3 to 6e-5 only
    EXPECT_NEAR(l.at({2, 0}), -std::log1p(std::exp(-1.0)), d == DType::f32 ? 1e-4 : 1e-12);
    sum(l * l).backward();
    EXPECT_TRUE(all_finite(x.grad()));
  }
}

TEST(Softmax, ErrorsNameTheOp) {
  EXPECT_THAT(error_of<ShapeError>([] { softmax(scalar(1)); }), HasSubstr("softmax: x is a scalar"));
  EXPECT_THAT(error_of<ValueError>([] {
                log_softmax(zeros({2, 0}));
              }),
              HasSubstr("log_softmax: axis -1 of shape [2,0] is empty"));
  EXPECT_THAT(error_of<ValueError>([] { softmax(zeros({2, 3}), 2); }), HasSubstr("softmax: axis 2 out of range"));
}

// ---- sparse categorical cross-entropy -------------------------------------------------------

TEST(SparseCategoricalCrossentropy, HandComputedFromLogitsAndProbabilities) {
  Tensor logits = tensor({0, 1, 2, 3, 3, 3}, {2, 3}, DType::f64);
  Tensor targets = tensor({2, 0}, DType::f64);
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  const double want = ((std::log(z) - 2) + std::log(3.0)) / 2;
  EXPECT_NEAR(sparse_categorical_crossentropy(targets, logits).item(), want, 1e-14);
  // the same from probabilities (rows already sum to one: the clip changes nothing here)
  EXPECT_NEAR(sparse_categorical_crossentropy(targets, softmax(logits), false).item(), want, 1e-12);
  // a probability of 0 is clipped to 1e-7
  Tensor p = tensor({0, 1}, {1, 2}, DType::f64);
  const double c = 1 - 1e-7;
  EXPECT_NEAR(sparse_categorical_crossentropy(tensor({0}, DType::f64), p, false).item(),
              std::log(c + 1e-7) - std::log(1e-7), 1e-9);
}

TEST(SparseCategoricalCrossentropy, IgnoredClassLeavesTheMeanAndTheGradient) {
  Tensor logits = rnd({2, 3, 4}, 8, -2.0, 2.0).requires_grad_();
  Tensor targets = tensor({1, 3, 0, 2, 0, 0}, {2, 3}, DType::f64);
  Tensor loss = sparse_categorical_crossentropy(targets, logits, true, 0);
  // the same as the mean over the three kept items alone
  Tensor kept = stack(
      V{select(select(logits, 0, 0), 0, 0), select(select(logits, 0, 0), 0, 1), select(select(logits, 0, 1), 0, 0)}, 0);
  EXPECT_NEAR(loss.item(), sparse_categorical_crossentropy(tensor({1, 3, 2}, DType::f64), kept).item(), 1e-14);
  loss.backward();
  for (auto [b, t] : {std::pair{0, 2}, {1, 1}, {1, 2}})
    for (int c = 0; c < 4; ++c) EXPECT_EQ(logits.grad().at({b, t, c}), 0.0);
  // all ignored: 0 and a zero gradient
  Tensor none = sparse_categorical_crossentropy(zeros({2, 3}, DType::f64), logits, true, 0);
  EXPECT_EQ(none.item(), 0.0);
}

TEST(SparseCategoricalCrossentropy, Gradcheck) {
  Tensor t2 = tensor({0, 3, 1, 2, 2}, DType::f64);
  Tensor t3 = tensor({0, 3, 1, 2, 2, 1}, {2, 3}, DType::f64);
  EXPECT_GRADCHECK([&](const V& v) { return sparse_categorical_crossentropy(t2, v[0]); }, rnd({5, 4}, 9, -3.0, 3.0));
  EXPECT_GRADCHECK([&](const V& v) { return sparse_categorical_crossentropy(t3, v[0]); },
                   rnd({2, 3, 4}, 10, -3.0, 3.0));
  EXPECT_GRADCHECK([&](const V& v) { return sparse_categorical_crossentropy(t3, v[0], true, 2); },
                   rnd({2, 3, 4}, 11, -3.0, 3.0));
  // from probabilities, away from the clip
  EXPECT_GRADCHECK([&](const V& v) { return sparse_categorical_crossentropy(t2, v[0], false); },
                   rnd({5, 4}, 12, 0.05, 0.95));
  // float32 class ids with float64 scores
  Tensor t32 = t2.to(DType::f32);
  EXPECT_GRADCHECK([&](const V& v) { return sparse_categorical_crossentropy(t32, v[0]); }, rnd({5, 4}, 13));
}

TEST(SparseCategoricalCrossentropy, ExtremeLogitsStayFinite) {
  for (DType d : {DType::f32, DType::f64}) {
    Tensor logits = tensor({100, -100, -100, -100, 100, 100, 100, -100}, {4, 2}, d).requires_grad_();
    Tensor loss = sparse_categorical_crossentropy(tensor({1, 0, 1, 1}, d), logits);
    EXPECT_NEAR(loss.item(), (200.0 + std::log(2.0) + std::log(2.0) + 200.0) / 4, 1e-4);
    loss.backward();
    EXPECT_TRUE(all_finite(logits.grad()));
    EXPECT_NEAR(logits.grad().at({0, 1}), -0.25, 1e-6);
  }
}

TEST(SparseCategoricalCrossentropy, TypedErrors) {
  Tensor logits = zeros({4, 3});
  EXPECT_THAT(error_of<ShapeError>([&] { sparse_categorical_crossentropy(zeros({3}), logits); }),
              HasSubstr("sparse_categorical_crossentropy: pred [4,3] and targets [3]: expected targets of shape [4]"));
  EXPECT_THAT(error_of<ShapeError>([&] {
                sparse_categorical_crossentropy(zeros({4, 3}), logits);
              }),
              HasSubstr("expected targets of shape [4]"));
  EXPECT_THAT(error_of<ShapeError>([&] { sparse_categorical_crossentropy(scalar(0), scalar(1)); }),
              HasSubstr("pred is a scalar"));
  EXPECT_THAT(error_of<ValueError>([&] {
                sparse_categorical_crossentropy(tensor({0, 1, 3, 0}), logits);
              }),
              HasSubstr("target 3 at flat position 2 is not a class id in [0, 3)"));
  EXPECT_THAT(error_of<ValueError>([&] {
                sparse_categorical_crossentropy(tensor({0, -1, 2, 0}), logits);
              }),
              HasSubstr("target -1 at flat position 1"));
  EXPECT_THAT(error_of<ValueError>([&] {
                sparse_categorical_crossentropy(tensor({0, 1.5, 2, 0}), logits);
              }),
              HasSubstr("target 1.5 at flat position 1"));
  EXPECT_THAT(error_of<ValueError>([&] {
                sparse_categorical_crossentropy(tensor({0, 7, 2, 0}), logits, true, 5);
              }),
              HasSubstr("(nor the ignored class 5)"));
  // the ignored id may lie outside the classes (a padding id of -1)
  EXPECT_NO_THROW(sparse_categorical_crossentropy(tensor({0, -1, 2, 0}), logits, true, -1));
}

TEST(SparseCategoricalCrossentropy, IsOneNodeWithNoGradientToTheTargets) {
  Tensor logits = rnd({3, 4}, 14).requires_grad_();
  Tensor targets = tensor({0, 1, 2}, DType::f64).requires_grad_();
  sparse_categorical_crossentropy(targets, logits).backward();
  EXPECT_TRUE(logits.grad().defined());
  EXPECT_FALSE(targets.grad().defined());
  Tensor l = sparse_categorical_crossentropy(tensor({0, 1, 2}, DType::f64), logits);
  EXPECT_EQ(tape().num_nodes(), 1u);
}

// ---- binary cross-entropy -------------------------------------------------------------------

TEST(BinaryCrossentropy, HandComputed) {
  Tensor x = tensor({0, 2, -1}, DType::f64), t = tensor({1, 0, 0.25}, DType::f64);
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  double want = 0;
  for (int i = 0; i < 3; ++i) {
    const double p = sig(x.at({i})), y = t.at({i});
    want -= y * std::log(p) + (1 - y) * std::log(1 - p);
  }
  EXPECT_NEAR(binary_crossentropy(t, x, true).item(), want / 3, 1e-14);
  // from probabilities, Keras' eps inside the logs
  Tensor p = sigmoid(x);
  double keras = 0;
  for (int i = 0; i < 3; ++i) {
    const double q = p.at({i}), y = t.at({i});
    keras -= y * std::log(q + 1e-7) + (1 - y) * std::log(1 - q + 1e-7);
  }
  EXPECT_NEAR(binary_crossentropy(t, p).item(), keras / 3, 1e-14);
  EXPECT_NEAR(binary_crossentropy(t, p).item(), want / 3, 1e-6);
}

TEST(BinaryCrossentropy, Gradcheck) {
  auto logits = [](const V& v) { return binary_crossentropy(v[1], v[0], true); };
  auto probs = [](const V& v) { return binary_crossentropy(v[1], v[0], false); };
  EXPECT_GRADCHECK(logits, rnd({4, 3}, 15, -4.0, 4.0), rnd({4, 3}, 16, 0.0, 1.0));
  EXPECT_GRADCHECK(logits, rnd({7}, 17, -4.0, 4.0), rnd({7}, 18, 0.0, 1.0));
  EXPECT_GRADCHECK(probs, rnd({4, 3}, 19, 0.05, 0.95), rnd({4, 3}, 20, 0.0, 1.0));
}

TEST(BinaryCrossentropy, ExtremeLogitsStayFiniteAndClippedProbabilitiesTakeNoGradient) {
  for (DType d : {DType::f32, DType::f64}) {
    Tensor x = tensor({100, -100, 100, -100}, d).requires_grad_();
    Tensor loss = binary_crossentropy(tensor({1, 0, 0, 1}, d), x, true);
    EXPECT_NEAR(loss.item(), 200.0 / 4, 1e-4);
    loss.backward();
    EXPECT_TRUE(all_finite(x.grad()));
    testing::expect_values(x.grad(), {4}, {0, 0, 0.25, -0.25}, 1e-7);
    Tensor p = tensor({0, 1, 0.5}, d).requires_grad_();
    Tensor lp = binary_crossentropy(tensor({1, 0, 1}, d), p);
    EXPECT_TRUE(std::isfinite(lp.item()));
    lp.backward();
    EXPECT_EQ(p.grad().at({0}), 0.0);
    EXPECT_EQ(p.grad().at({1}), 0.0);
    EXPECT_LT(p.grad().at({2}), 0.0);
  }
}

TEST(BinaryCrossentropy, TypedErrors) {
  EXPECT_THAT(error_of<ShapeError>([] {
                binary_crossentropy(zeros({4}), zeros({4, 1}));
              }),
              HasSubstr("binary_crossentropy: pred [4,1] and target [4]: expected equal shapes"));
  EXPECT_THAT(error_of<DTypeError>([] { binary_crossentropy(zeros({4}, DType::f64), zeros({4})); }),
              HasSubstr("binary_crossentropy: pred [4] is float32 and target [4] is float64"));
}

// ---- PyTorch goldens ------------------------------------------------------------------------

using golden::GoldenCase;
using Builder = std::function<Tensor(std::map<std::string, Tensor>&, const Tensor& targets)>;

const std::map<std::string, Builder>& builders() {
  using M = std::map<std::string, Tensor>;
  static const std::map<std::string, Builder> b = {
      {"softmax_last", [](M& in, const Tensor&) { return softmax(in["x"]); }},
      {"softmax_axis1", [](M& in, const Tensor&) { return softmax(in["x"], 1); }},
      {"softmax_extreme", [](M& in, const Tensor&) { return softmax(in["x"], -1); }},
      {"log_softmax_last", [](M& in, const Tensor&) { return log_softmax(in["x"]); }},
      {"log_softmax_axis0", [](M& in, const Tensor&) { return log_softmax(in["x"], 0); }},
      {"log_softmax_extreme", [](M& in, const Tensor&) { return log_softmax(in["x"]); }},
      {"sce_logits_2d", [](M& in, const Tensor& t) { return sparse_categorical_crossentropy(t, in["logits"]); }},
      {"sce_logits_3d", [](M& in, const Tensor& t) { return sparse_categorical_crossentropy(t, in["logits"]); }},
      {"sce_logits_ignore0",
       [](M& in, const Tensor& t) { return sparse_categorical_crossentropy(t, in["logits"], true, 0); }},
      {"sce_logits_extreme", [](M& in, const Tensor& t) { return sparse_categorical_crossentropy(t, in["logits"]); }},
      {"sce_probs", [](M& in, const Tensor& t) { return sparse_categorical_crossentropy(t, in["p"], false); }},
      {"bce_logits", [](M& in, const Tensor&) { return binary_crossentropy(in["target"], in["x"], true); }},
      {"bce_logits_extreme", [](M& in, const Tensor&) { return binary_crossentropy(in["target"], in["x"], true); }},
      {"bce_probs", [](M& in, const Tensor&) { return binary_crossentropy(in["target"], in["p"]); }},
  };
  return b;
}

TEST(SoftmaxGoldens, MatchPyTorchForwardAndEveryGradient) {
  const auto cases = golden::read_golden_file(std::string(TAPEGRAD_GOLDEN_DIR) + "/softmax.txt");
  ASSERT_EQ(cases.size(), 2 * builders().size());
  for (const GoldenCase& c : cases) {
    SCOPED_TRACE(c.name + (c.dtype == DType::f64 ? " float64" : " float32"));
    auto it = builders().find(c.name);
    ASSERT_NE(it, builders().end()) << "no builder for " << c.name;
    std::map<std::string, Tensor> in;
    for (const auto& g : c.inputs) in[g.name] = g.to_tensor(c.dtype).requires_grad_();
    const Tensor targets = c.values.empty() ? Tensor() : c.value("targets").to_tensor(c.dtype);
    Tensor out = it->second(in, targets);
    golden::expect_matches(out, c.output(), c.dtype, c.name + " output");
    if (c.seed())
      out.backward(c.seed()->to_tensor(c.dtype));
    else
      out.backward();
    for (const auto& g : c.grads) golden::expect_matches(in[g.name].grad(), g, c.dtype, c.name + " grad " + g.name);
  }
}

}  // namespace
}  // namespace tg

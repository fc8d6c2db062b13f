// The extension examples: a user-defined op and a user-defined cell and model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "custom_model/leaky_cell.h"
#include "custom_op/softplus.h"

namespace tg {
namespace {

TEST(CustomOp, SoftplusPassesGradcheckOnSeveralShapes) {
  Generator g(3);
  for (Shape s : {Shape{}, Shape{5}, Shape{3, 4}, Shape{2, 1, 3}}) {
    auto r = gradcheck([](const std::vector<Tensor>& in) { return softplus(in[0]); }, {randn(s, DType::f64, &g)});
    EXPECT_TRUE(r.ok) << s.str() << ": " << r.message;
  }
}

TEST(CustomOp, SoftplusValuesAndNoOverflow) {
  Tensor x = tensor({-100.0, -1.0, 0.0, 2.0, 100.0}, DType::f64);
  Tensor y = softplus(x);
  for (int i = 0; i < 5; ++i) {
    const double v = x.at({i});
    const double ref = v > 30 ? v : std::log1p(std::exp(v));
    EXPECT_NEAR(y.at({i}), ref, 1e-12 * std::max(1.0, std::abs(ref)));
  }
}

TEST(CustomOp, RecordsOneNodeNamedAfterTheFunction) {
  Tensor x = ones({3}).requires_grad_();
  Tensor y = softplus(x);
  EXPECT_EQ(tape().num_nodes(), 1u);
  EXPECT_THAT(tape().to_dot(), ::testing::HasSubstr("softplus"));
}

struct WrongCount : Function<WrongCount> {
  static constexpr const char* name = "wrong_count";
  static Tensor forward(FunctionCtx&, const Tensor& a, const Tensor& b) { return a * b; }
  static tensor_list backward(FunctionCtx&, const tensor_list& g) { return {g[0]}; }
};

struct WrongShape : Function<WrongShape> {
  static constexpr const char* name = "wrong_shape";
  static Tensor forward(FunctionCtx&, const Tensor& a) { return sum(a); }
  static tensor_list backward(FunctionCtx&, const tensor_list& g) { return {g[0]}; }  // [] for [3]
};

TEST(CustomOp, WrongGradientsAreNamedErrors) {
  Tensor a = ones({3}).requires_grad_(), b = ones({3}).requires_grad_();
  try {
    sum(WrongCount::apply(a, b)).backward();
    FAIL() << "no error";
  } catch (const GraphError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("wrong_count.backward returned 1 gradients, expected 2"));
  }
  try {
    WrongShape::apply(a).backward();
    FAIL() << "no error";
  } catch (const GraphError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("wrong_shape backward"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("expected [3]"));
  }
  EXPECT_EQ(tape().num_nodes(), 0u);  // the failed graph is gone; a new one can be built
  sum(softplus(a)).backward();
  EXPECT_TRUE(a.grad().defined());
}

TEST(CustomModel, LeakyForecasterPassesGradcheck) {
  manual_seed(5);
  LeakyForecaster model;
  model.to(DType::f64);
  Generator g(6);
  Tensor x = randn({2, 4, 1}, DType::f64, &g);
  std::vector<Tensor> leaves = model.parameters();
  EXPECT_EQ(leaves.size(), 4u + 3u + 2u);
  auto r = gradcheck_leaves([&] { return model(x); }, leaves);
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(CustomModel, LeakyCellWorksInAStackedSeq2SeqModel) {
  manual_seed(6);
  Sequential m(Input{None, 1}, RNN(std::make_shared<LeakyCell>(4), {.return_sequences = true}),
               SimpleRNN(3, {.return_sequences = true}), TimeDistributed(Dense(2)));
  EXPECT_EQ(m(zeros({5, 7, 1})).shape(), (Shape{5, 7, 2}));
  EXPECT_EQ(m[0].num_parameters(), 1 * 4 + 4 * 4 + 4 + 4);
}

}  // namespace
}  // namespace tg

// Saved tensors edited in place between forward and backward: every in-place write bumps the
// version its storage's aliases share, and a backward rule that reads a saved tensor at another
// version refuses it with a GraphError naming the op and the tensor, instead of computing a wrong
// gradient. Indices read in backward stay inside their buffers even when written behind the
// version counter's back.
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tapegrad/optim/sgd.h>
#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

using ::testing::AllOf;
using testing::error_of;
using ::testing::HasSubstr;

TEST(Versions, InPlaceWritesBumpTheVersionOfEveryAlias) {
  Tensor x = ones({2, 3});
  Tensor alias = x.detach(), view = x.view({3, 2});
  const std::uint64_t v0 = x.version();
  x.fill_(2.0);
  EXPECT_EQ(x.version(), v0 + 1);
  alias.set({0, 0}, 1.0);
  EXPECT_EQ(view.version(), v0 + 2);
  view.copy_from(zeros({3, 2}));
  EXPECT_EQ(x.version(), v0 + 3);
  EXPECT_EQ(x.clone().version(), 0u) << "a clone has elements of its own";
}

TEST(Versions, FillOfASavedInputIsRefused) {
  // l = sum(w * x); x.fill_(5); backward: dL/dw would be 5 (the forward's x was 2).
  Tensor w = full({3}, 1.0, DType::f64).requires_grad_();
  Tensor x = full({3}, 2.0, DType::f64);
  const std::uint64_t v = x.version();
  Tensor l = sum(w * x);
  x.fill_(5.0);
  EXPECT_THAT(error_of<GraphError>([&] { l.backward(); }),
              AllOf(HasSubstr("mul"), HasSubstr("modified in place"), HasSubstr("[3]"),
                    HasSubstr(fmt::format("at version {}, saved at version {}", v + 1, v))));
  EXPECT_FALSE(w.grad().defined() && w.grad().at({0}) == 5.0) << "no silently wrong gradient";
}

TEST(Versions, UnsavedOrUnchangedTensorsStillWork) {
  Tensor w = full({3}, 1.0, DType::f64).requires_grad_();
  Tensor x = full({3}, 2.0, DType::f64);
  Tensor b = full({3}, 7.0, DType::f64);
  Tensor l = sum(w * x + b);  // add saves nothing of b
  b.fill_(0.0);
  l.backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{2.0, 2.0, 2.0}));
  x.fill_(5.0);  // after backward: nothing is pending
  Tensor l2 = sum(w * x);
  l2.backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{7.0, 7.0, 7.0}));
}

TEST(Versions, OptimizerStepBetweenForwardAndBackwardIsRefused) {
  manual_seed(1);
  Sequential model(Input{4}, Dense(3, activations::tanh), Dense(1));
  SGD sgd(model.parameters(), 0.1);
  Tensor x = randn({5, 4}), y = randn({5, 1});
  mse(y, model(x)).backward();
  Tensor loss = mse(y, model(x));  // recorded with the current weights
  sgd.step();                      // changes them in place
  EXPECT_THAT(error_of<GraphError>([&] { loss.backward(); }),
              AllOf(HasSubstr("modified in place"), HasSubstr("dense")));
}

TEST(Versions, CopyIntoALaterLayersWeightsIsRefused) {
  manual_seed(2);
  Sequential model(Input{4}, Dense(3, activations::tanh), Dense(1));
  Tensor x = randn({5, 4}), y = randn({5, 1});
  Tensor loss = mse(y, model(x));
  Tensor kernel = model[1].parameters()[0];
  kernel.copy_from(zeros_like(kernel));
  EXPECT_THAT(error_of<GraphError>([&] { loss.backward(); }),
              AllOf(HasSubstr("modified in place"), HasSubstr(kernel.name())));
}

TEST(Versions, EditingADetachedAliasIsRefused) {
  Tensor w = full({2, 2}, 0.5, DType::f64).requires_grad_();
  Tensor x = full({3, 2}, 1.0, DType::f64);
  Tensor l = sum(tanh(matmul(x, w)));  // tanh saves its output, matmul its inputs
  Tensor alias = w.detach();
  alias.set({1, 1}, 3.0);
  EXPECT_THAT(error_of<GraphError>([&] { l.backward(); }), HasSubstr("matmul"));
}

TEST(Versions, RetainedGraphSeesWritesBetweenTwoBackwards) {
  Tensor w = full({3}, 1.0, DType::f64).requires_grad_();
  Tensor x = full({3}, 2.0, DType::f64);
  Tensor l = sum(w * x);
  l.backward(/*retain_graph=*/true);
  EXPECT_EQ(w.grad().at({0}), 2.0);
  x.fill_(4.0);
  EXPECT_THROW(l.backward(), GraphError);
  EXPECT_EQ(w.grad().at({0}), 2.0) << "the refused backward added nothing";
}

TEST(Versions, TheTapeIsUsableAfterARefusal) {
  Tensor w = full({3}, 1.0, DType::f64).requires_grad_();
  Tensor x = full({3}, 2.0, DType::f64);
  Tensor l = sum(w * x);
  x.fill_(5.0);
  EXPECT_THROW(l.backward(), GraphError);
  w.zero_grad();
  Tensor l2 = sum(w * x);
  l2.backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{5.0, 5.0, 5.0}));
}

TEST(Versions, EmbeddingIdsChangedBehindTheCounterStayInBounds) {
  Tensor table = full({4, 2}, 1.0, DType::f64).requires_grad_();
  Tensor ids = tensor({0, 3, 1}, DType::f64);
  Tensor l = sum(embedding(ids, table));
  ids.data<double>()[1] = 1e9;  // a raw write the version counter cannot see
  EXPECT_THAT(error_of<ValueError>([&] { l.backward(); }),
              AllOf(HasSubstr("embedding"), HasSubstr("1000000000"), HasSubstr("out of range")));
  Tensor ids2 = tensor({0, 3, 1}, DType::f64);
  Tensor l2 = sum(embedding(ids2, table));
  ids2.set({1}, 9.0);  // through the API: the version check names it first
  EXPECT_THAT(error_of<GraphError>([&] { l2.backward(); }), HasSubstr("embedding"));
}

TEST(Versions, ClassTargetsChangedBehindTheCounterStayInBounds) {
  Tensor logits = full({3, 4}, 0.5, DType::f64).requires_grad_();
  for (double bad : {7.0, -1.0, 1e30, std::nan("")}) {
    Tensor targets = tensor({0, 3, 1}, DType::f64);
    Tensor l = sparse_categorical_crossentropy(targets, logits);
    targets.data<double>()[2] = bad;
    EXPECT_THAT(error_of<ValueError>([&] { l.backward(); }),
                AllOf(HasSubstr("sparse_categorical_crossentropy"), HasSubstr("no longer a class id")))
        << bad;
  }
}

}  // namespace
}  // namespace tg

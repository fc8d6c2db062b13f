// The classification losses and the accuracy metric as fit and evaluate use them.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

TEST(Accuracy, BinaryThresholdsProbabilitiesAtHalfAndLogitsAtZero) {
  Tensor y = tensor({1, 0, 1, 0});
  EXPECT_DOUBLE_EQ(binary_accuracy(y, tensor({0.9, 0.2, 0.4, 0.6})).item(), 0.5);
  EXPECT_DOUBLE_EQ(accuracy().fn(y, tensor({0.9, 0.2, 0.4, 0.6})).item(), 0.5);
  EXPECT_DOUBLE_EQ(accuracy(true).fn(y, tensor({0.9, -0.2, 0.4, -0.6})).item(), 1.0);
  // y_pred [N, 1] against y_true [N], as a Dense(1) model gives
  EXPECT_DOUBLE_EQ(accuracy().fn(y, tensor({0.9, 0.2, 0.4, 0.1}, {4, 1})).item(), 0.75);
  EXPECT_EQ(accuracy().name, "accuracy");
}

TEST(Accuracy, SparseCategoricalTakesTheArgmaxAndSkipsIgnoredItems) {
  Tensor pred = tensor({0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.3, 0.3, 0.4}, {3, 3});
  EXPECT_NEAR(sparse_categorical_accuracy(tensor({1, 0, 0}), pred).item(), 2.0 / 3.0, 1e-7);
  EXPECT_NEAR(accuracy().fn(tensor({1, 2, 2}), pred).item(), 2.0 / 3.0, 1e-7);
  EXPECT_NEAR(accuracy(false, 2).fn(tensor({1, 2, 0}), pred).item(), 0.5, 1e-7);
  // [B, T, C] against [B, T]
  EXPECT_NEAR(accuracy().fn(tensor({1, 0, 0}, {1, 3}), reshape(pred, {1, 3, 3})).item(), 2.0 / 3.0, 1e-7);
}

TEST(Accuracy, ShapeErrors) {
  EXPECT_THAT(error_of<ShapeError>([] {
                accuracy().fn(zeros({4}), zeros({4, 2, 2}));
              }),
              HasSubstr("accuracy: y_true [4] and y_pred [4,2,2]"));
  EXPECT_THAT(error_of<ShapeError>([] {
                sparse_categorical_accuracy(zeros({4}), zeros({3, 2}));
              }),
              HasSubstr("sparse_categorical_accuracy: y_true [4] and y_pred [3,2]"));
  EXPECT_THAT(error_of<ShapeError>([] { binary_accuracy(zeros({4}), zeros({3})); }),
              HasSubstr("binary_accuracy: y_true [4] and y_pred [3]"));
}

TEST(ClassificationLosses, AreTheOpsInKerasArgumentOrder) {
  Tensor logits = tensor({0.2, -1, 2, 0.5, 0.1, -0.3}, {2, 3}, DType::f64);
  Tensor ids = tensor({2, 0}, DType::f64);
  EXPECT_DOUBLE_EQ(sparse_categorical_crossentropy_loss()(ids, logits).item(),
                   sparse_categorical_crossentropy(ids, logits).item());
  EXPECT_DOUBLE_EQ(sparse_categorical_crossentropy_loss(true, 2)(ids, logits).item(),
                   sparse_categorical_crossentropy(ids, logits, true, 2).item());
  Tensor t = tensor({1, 0, 1}, DType::f64), x = tensor({0.3, -2, 1}, DType::f64);
  EXPECT_DOUBLE_EQ(binary_crossentropy_loss(true)(t, x).item(), binary_crossentropy(t, x, true).item());
  EXPECT_DOUBLE_EQ(binary_crossentropy_loss()(t, sigmoid(x)).item(), binary_crossentropy(t, sigmoid(x)).item());
}

// Three Gaussian blobs in the plane, labelled by blob.
void blobs(std::int64_t n, std::uint32_t seed, Tensor& x, Tensor& y) {
  Generator g(seed);
  x = randn({n, 2}, DType::f32, &g) * 0.5;
  y = zeros({n});
  const double cx[3] = {2, -2, 0}, cy[3] = {0, 0, 2.5};
  for (std::int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::int64_t>(g.below(3));
    y.set({i}, static_cast<double>(c));
    x.set({i, 0}, x.at({i, 0}) + cx[c]);
    x.set({i, 1}, x.at({i, 1}) + cy[c]);
  }
}

TEST(ClassificationFit, SoftmaxRegressionReportsAccuracyAndValAccuracyLikeKeras) {
  Tensor x, y, xv, yv;
  blobs(300, 1, x, y);
  blobs(100, 2, xv, yv);
  manual_seed(3);
  Sequential model(Input{None, 2}, Dense(3));
  Adam adam(model.parameters(), 0.05);
  Generator g(4);
  History h = fit(model, x, y,
                  {.epochs = 8,
                   .optimizer = &adam,
                   .loss = sparse_categorical_crossentropy_loss(),
                   .metrics = {accuracy()},
                   .validation_data = std::pair{xv, yv},
                   .verbose = 0,
                   .generator = &g});
  ASSERT_TRUE(h.contains("accuracy") && h.contains("val_accuracy") && h.contains("val_loss"));
  EXPECT_LT(h["loss"].back(), h["loss"].front());
  EXPECT_GT(h["val_accuracy"].back(), 0.95);
  Logs logs = evaluate(model, xv, yv, sparse_categorical_crossentropy_loss(), {accuracy()});
  EXPECT_NEAR(logs["accuracy"], h["val_accuracy"].back(), 1e-6);
  EXPECT_NEAR(logs["loss"], h["val_loss"].back(), 1e-6);
}

TEST(ClassificationFit, LogisticRegressionFromLogitsAndFromProbabilities) {
  Tensor x, c, xv, cv;
  blobs(300, 5, x, c);
  blobs(100, 6, xv, cv);
  // class 0 against the rest, as [N, 1] targets
  auto first_blob = [](const Tensor& ids) {
    Tensor t = zeros({ids.size(0), 1});
    for (std::int64_t i = 0; i < ids.size(0); ++i) t.set({i, 0}, ids.at({i}) == 0 ? 1.0 : 0.0);
    return t;
  };
  Tensor y = first_blob(c), yv = first_blob(cv);
  for (bool from_logits : {true, false}) {
    manual_seed(7);
    Sequential model(Input{None, 2}, Dense(1, from_logits ? activations::linear : activations::sigmoid));
    Adam adam(model.parameters(), 0.05);
    Generator g(8);
    History h = fit(model, x, y,
                    {.epochs = 8,
                     .optimizer = &adam,
                     .loss = binary_crossentropy_loss(from_logits),
                     .metrics = {accuracy(from_logits)},
                     .validation_data = std::pair{xv, yv},
                     .verbose = 0,
                     .generator = &g});
    EXPECT_GT(h["val_accuracy"].back(), 0.95) << "from_logits " << from_logits;
    EXPECT_LT(h["val_loss"].back(), 0.3) << "from_logits " << from_logits;
  }
}

}  // namespace
}  // namespace tg

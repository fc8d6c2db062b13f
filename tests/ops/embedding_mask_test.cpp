// The embedding gather/scatter-add op and the masked state update: values, gradients (float64
// gradcheck), and their typed errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <tapegrad/tapegrad.h>

#include "support/error_of.h"
#include "support/op_test_util.h"

namespace tg {
namespace {

using testing::error_of;
using ::testing::HasSubstr;
using testing::rnd;

TEST(EmbeddingOp, GathersRowsAndScatterAddsGradients) {
  Tensor w = tensor({0, 1, 10, 11, 20, 21}, {3, 2}, DType::f64).requires_grad_();
  Tensor ids = tensor({2, 0, 2, 1}, {2, 2});  // float32 ids, float64 table
  Tensor y = embedding(ids, w);
  testing::expect_values(y, {2, 2, 2}, {20, 21, 0, 1, 20, 21, 10, 11});
  EXPECT_EQ(y.dtype(), DType::f64);
  sum(y * tensor({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2}, DType::f64)).backward();
  // row 2 was picked twice: both contributions add up
  testing::expect_values(w.grad(), {3, 2}, {3, 4, 7, 8, 1 + 5, 2 + 6});
}

TEST(EmbeddingOp, PassesGradcheck) {
  Tensor ids = tensor({4, 0, 3, 3, 1, 4}, {2, 3}, DType::f64);
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return embedding(ids, in[0]); }, rnd({5, 3}, 7));
  // a 1-D batch of ids and a scalar id work too
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return embedding(tensor({1, 1, 0}, DType::f64), in[0]);
      },
      rnd({2, 4}, 8));
  EXPECT_EQ(embedding(scalar(2), rnd({3, 4}, 9, DType::f32)).shape(), (Shape{4}));
}

TEST(EmbeddingOp, BadIdsAreValueErrorsNamingTheValueAndTheRange) {
  Tensor w = zeros({10, 4});
  EXPECT_EQ(error_of<ValueError>([&] {
              embedding(tensor({1, 2, 3, 2.5}, {2, 2}), w);
            }),
            "embedding: id 2.5 at [1,1] of ids [2,2] is not a whole number; expected ids in [0, 10)");
  EXPECT_EQ(error_of<ValueError>([&] {
              embedding(tensor({1, 12}, {1, 2}), w);
            }),
            "embedding: id 12 at [0,1] of ids [1,2] is out of range; expected ids in [0, 10)");
  EXPECT_THAT(error_of<ValueError>([&] { embedding(tensor({-1}), w); }), HasSubstr("id -1 at [0]"));
  EXPECT_THAT(error_of<ValueError>([&] { embedding(tensor({std::nan("")}), w); }), HasSubstr("is not a whole number"));
  EXPECT_EQ(error_of<ShapeError>([&] { embedding(tensor({1}), zeros({10})); }),
            "embedding: weight [10] must be [vocabulary, dim]");
}

TEST(MaskOps, MasksFromIdsAndFromFeatures) {
  testing::expect_values(mask_not_equal(tensor({3, 0, 1, 0}, {2, 2}), 0.0), {2, 2}, {1, 0, 1, 0});
  Tensor x = tensor({1, 0, 0, 0, 0, 2, -1, -1}, {2, 2, 2});
  testing::expect_values(mask_any_not_equal(x, 0.0), {2, 2}, {1, 0, 1, 1});
  testing::expect_values(mask_any_not_equal(x, -1.0), {2, 2}, {1, 1, 1, 0});
  EXPECT_THAT(error_of<ShapeError>([&] {
                mask_any_not_equal(zeros({2, 2}), 0.0);
              }),
              HasSubstr("expected [batch, time, features]"));
}

TEST(MaskOps, MaskedUpdateKeepsPreviousRowsAndRoutesGradients) {
  Tensor mask = tensor({1, 0, 0, 1}, {2, 2});  // row 0 real at step 0, row 1 real at step 1
  Tensor u = tensor({1, 2, 3, 4}, {2, 2}, DType::f64).requires_grad_();
  Tensor p = tensor({5, 6, 7, 8}, {2, 2}, DType::f64).requires_grad_();
  Tensor y = masked_update(mask, 0, u, p);
  testing::expect_values(y, {2, 2}, {1, 2, 7, 8});
  sum(y * tensor({1, 2, 3, 4}, {2, 2}, DType::f64)).backward();
  testing::expect_values(u.grad(), {2, 2}, {1, 2, 0, 0});
  testing::expect_values(p.grad(), {2, 2}, {0, 0, 3, 4});
  // an undefined previous state is zeros
  testing::expect_values(masked_update(mask, 1, u, Tensor()), {2, 2}, {0, 0, 3, 4});
  for (std::int64_t t : {0, 1})
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return masked_update(mask, t, in[0], in[1]); },
                     rnd({2, 3}, 1), rnd({2, 3}, 2));
}

TEST(MaskOps, MaskedUpdateErrors) {
  Tensor mask = ones({2, 3});
  EXPECT_THAT(error_of<ShapeError>([&] {
                masked_update(ones({3, 3}), 0, ones({2, 4}), Tensor());
              }),
              HasSubstr("masked_update: mask [3,3] and update [2,4]"));
  EXPECT_THAT(error_of<ValueError>([&] {
                masked_update(mask, 3, ones({2, 4}), Tensor());
              }),
              HasSubstr("step 3 out of range for a mask of 3 steps"));
  EXPECT_THAT(error_of<ShapeError>([&] {
                masked_update(mask, 0, ones({2, 4}), ones({2, 5}));
              }),
              HasSubstr("update [2,4] and previous [2,5]"));
  EXPECT_THAT(error_of<DTypeError>([&] {
                masked_update(mask, 0, ones({2, 4}), ones({2, 4}, DType::f64));
              }),
              HasSubstr("expected one dtype"));
}

}  // namespace
}  // namespace tg

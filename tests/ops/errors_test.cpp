// A catalogue of bad calls: each throws its typed error, whose message names the op and shows
// the shapes involved, and leaves its inputs (and the tape) as they were.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

using ::testing::HasSubstr;

// Runs `f`, expects an exception of exactly type E (not another tg error) whose message contains
// every one of `parts`.
template <class E, class F>
void expect_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an exception, nothing was thrown";
  } catch (const E& e) {
    for (const std::string& p : parts) EXPECT_THAT(e.what(), HasSubstr(p));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type; message: " << e.what();
  }
}

// The same, from a statement: EXPECT_TG_ERROR(ShapeError, add(a, b), {"add", "[3,4]", "[2,4]"}).
#define EXPECT_TG_ERROR(E, stmt, ...)                    \
  do {                                                   \
    SCOPED_TRACE(#stmt);                                 \
    expect_error<E>([&] { (void)(stmt); }, __VA_ARGS__); \
  } while (0)

Tensor f64(const Shape& s) { return ones(s, DType::f64); }
Tensor f32(const Shape& s) { return ones(s, DType::f32); }

TEST(Errors, Elementwise) {
  Tensor a = f32({3, 4}), b = f32({2, 4});
  EXPECT_TG_ERROR(ShapeError, add(a, b), {"add", "[3,4]", "[2,4]"});
  EXPECT_TG_ERROR(ShapeError, sub(a, b), {"sub", "[3,4]", "[2,4]"});
  EXPECT_TG_ERROR(ShapeError, mul(a, f32({3})), {"mul", "[3,4]", "[3]"});
  EXPECT_TG_ERROR(ShapeError, div(f32({2, 1, 3}), f32({4, 2})), {"div", "[2,1,3]", "[4,2]"});
  EXPECT_TG_ERROR(ShapeError, a + b, {"add", "[3,4]", "[2,4]"});
  EXPECT_TG_ERROR(DTypeError, add(a, f64({3, 4})), {"add", "[3,4]", "float32", "float64"});
  EXPECT_TG_ERROR(DTypeError, mul(f64({4}), a), {"mul", "[4]", "[3,4]"});
  EXPECT_TG_ERROR(ValueError, add(Tensor(), a), {"undefined"});
}

TEST(Errors, Unary) {
  EXPECT_TG_ERROR(ValueError, clamp(f32({2}), 1.0, -1.0), {"clamp", "1", "-1"});
  EXPECT_TG_ERROR(ValueError, tanh(Tensor()), {"undefined"});
}

TEST(Errors, Reduce) {
  Tensor x = f32({2, 3});
  EXPECT_TG_ERROR(ValueError, sum(x, {2}), {"sum", "axis 2", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, sum(x, {-3}, true), {"sum", "axis -3", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, sum(x, {1, -1}), {"sum", "[2,3]", "twice"});
  EXPECT_TG_ERROR(ValueError, mean(x, {5}), {"mean", "axis 5", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, sum(scalar(1), {0}), {"sum", "axis 0", "[]"});
  EXPECT_TG_ERROR(ValueError, max(x, 2), {"max", "axis 2", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, max(f32({0})), {"max", "[0]", "empty"});
  EXPECT_TG_ERROR(ValueError, max(f32({2, 0}), 1), {"max", "[2,0]", "empty"});
}

TEST(Errors, ReshapeAndFlatten) {
  Tensor x = f32({2, 3});
  EXPECT_TG_ERROR(ShapeError, reshape(x, {4, 2}), {"reshape", "[2,3]", "[4,2]"});
  EXPECT_TG_ERROR(ShapeError, reshape(x, {-1, 4}), {"reshape", "[2,3]", "[-1,4]"});
  EXPECT_TG_ERROR(ShapeError, reshape(f32({0, 3}), {0, -1}), {"reshape", "[0,3]", "[0,-1]"});
  EXPECT_TG_ERROR(ValueError, reshape(x, {-1, -1}), {"reshape", "[2,3]", "[-1,-1]"});
  EXPECT_TG_ERROR(ValueError, reshape(x, {-2, -3}), {"reshape", "[2,3]", "[-2,-3]"});
  EXPECT_TG_ERROR(ShapeError, reshape(x, {1, 1, 1, 1, 1, 2, 3}), {"reshape", "[1,1,1,1,1,2,3]"});
  EXPECT_TG_ERROR(ShapeError, flatten(scalar(1)), {"flatten", "[]"});
}

TEST(Errors, TransposeAndPermute) {
  Tensor x = f32({2, 3});
  EXPECT_TG_ERROR(ValueError, transpose(f32({3})), {"transpose", "[3]"});
  EXPECT_TG_ERROR(ValueError, transpose(x, 0, 2), {"transpose", "axis 2", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, permute(x, {0}), {"permute", "[0]", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, permute(x, {1, 1}), {"permute", "[1,1]", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, permute(x, {0, -2}), {"permute", "[0,-2]", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, permute(x, {0, 2}), {"permute", "axis 2", "[2,3]"});
}

TEST(Errors, SliceAndSelect) {
  Tensor x = f32({2, 4});
  EXPECT_TG_ERROR(ValueError, slice(x, 1, 3, 2), {"slice", "start 3", "length 2", "[2,4]"});
  EXPECT_TG_ERROR(ValueError, slice(x, 1, 5, 0), {"slice", "start 5", "[2,4]"});
  EXPECT_TG_ERROR(ValueError, slice(x, 1, -5, 1), {"slice", "start -5", "[2,4]"});
  EXPECT_TG_ERROR(ValueError, slice(x, 0, 0, -1), {"slice", "length -1", "[2,4]"});
  EXPECT_TG_ERROR(ValueError, slice(x, 2, 0, 1), {"slice", "axis 2", "[2,4]"});
  EXPECT_TG_ERROR(ValueError, select(x, 1, 4), {"select", "index 4", "[2,4]"});
  EXPECT_TG_ERROR(ValueError, select(x, 0, -3), {"select", "index -3", "[2,4]"});
  EXPECT_TG_ERROR(ValueError, select(x, -3, 0), {"select", "axis -3", "[2,4]"});
  EXPECT_TG_ERROR(ValueError, select(scalar(1), 0, 0), {"select", "[]"});
}

TEST(Errors, ConcatAndStack) {
  std::vector<Tensor> none;
  EXPECT_TG_ERROR(ValueError, concat(none, 0), {"concat", "empty"});
  EXPECT_TG_ERROR(ValueError, stack(none, 0), {"stack", "empty"});
  std::vector<Tensor> rows{f32({2, 3}), f32({3, 3})};
  EXPECT_TG_ERROR(ShapeError, concat(rows, 1), {"concat", "[2,3]", "[3,3]"});
  EXPECT_NO_THROW(concat(rows, 0));
  std::vector<Tensor> ranks{f32({2, 3}), f32({2, 3, 1})};
  EXPECT_TG_ERROR(ShapeError, concat(ranks, 0), {"concat", "[2,3]", "[2,3,1]"});
  std::vector<Tensor> dtypes{f32({2, 3}), f64({2, 3})};
  EXPECT_TG_ERROR(DTypeError, concat(dtypes, 0), {"concat", "[2,3]", "float32", "float64"});
  EXPECT_TG_ERROR(DTypeError, stack(dtypes, 0), {"stack", "[2,3]", "float32", "float64"});
  std::vector<Tensor> same{f32({2, 3}), f32({2, 3})};
  EXPECT_TG_ERROR(ValueError, concat(same, 2), {"concat", "axis 2", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, stack(same, 3), {"stack", "axis 3", "[2,3]"});
  EXPECT_TG_ERROR(ValueError, stack(same, -4), {"stack", "axis -4", "[2,3]"});
  EXPECT_TG_ERROR(ShapeError, stack(rows, 0), {"stack", "[2,3]", "[3,3]"});
  std::vector<Tensor> rank6{f32({1, 1, 1, 1, 1, 2}), f32({1, 1, 1, 1, 1, 2})};
  EXPECT_TG_ERROR(ShapeError, stack(rank6, 0), {"stack", "[1,1,1,1,1,2]"});
  std::vector<Tensor> with_undefined{f32({2}), Tensor()};
  EXPECT_TG_ERROR(ValueError, concat(with_undefined, 0), {"undefined"});
}

TEST(Errors, BroadcastTo) {
  EXPECT_TG_ERROR(ShapeError, broadcast_to(f32({3, 4}), {2, 4}), {"broadcast_to", "[3,4]", "[2,4]"});
  EXPECT_TG_ERROR(ShapeError, broadcast_to(f32({2, 3}), {3}), {"broadcast_to", "[2,3]", "[3]"});
  EXPECT_TG_ERROR(ShapeError, broadcast_to(f32({2}), {}), {"broadcast_to", "[2]", "[]"});
}

TEST(Errors, Matmul) {
  try {
    matmul(f32({32, 20}), f32({10, 20}));
    ADD_FAILURE() << "expected a ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "matmul: lhs [32,20] and rhs [10,20]: inner dimensions 20 != 10");
  }
  EXPECT_TG_ERROR(ShapeError, matmul(f32({2, 3, 4}), f32({3, 4, 5})), {"matmul", "[2,3,4]", "[3,4,5]", "batch"});
  EXPECT_TG_ERROR(ShapeError, matmul(f32({2, 3, 4}), f32({2, 3, 5})), {"matmul", "[2,3,4]", "[2,3,5]", "inner"});
  EXPECT_TG_ERROR(ShapeError, matmul(f32({3}), f32({3, 4})), {"matmul", "[3]", "[3,4]"});
  EXPECT_TG_ERROR(ShapeError, matmul(f32({2, 3}), f32({2, 3, 4})), {"matmul", "[2,3]", "[2,3,4]"});
  EXPECT_TG_ERROR(ShapeError, matmul(f32({1, 2, 3, 4}), f32({4, 2})), {"matmul", "[1,2,3,4]", "[4,2]"});
  EXPECT_TG_ERROR(DTypeError, matmul(f32({2, 3}), f64({3, 4})), {"matmul", "[2,3]", "[3,4]", "float64"});
}

TEST(Errors, Linear) {
  Tensor w = f32({3, 2}), b = f32({2});
  EXPECT_TG_ERROR(ShapeError, linear(f32({4, 5}), w, b), {"linear", "[4,5]", "[3,2]", "features 5", "rows 3"});
  EXPECT_TG_ERROR(ShapeError, linear(f32({4, 3}), f32({3}), b), {"linear", "[4,3]", "[3]"});
  EXPECT_TG_ERROR(ShapeError, linear(scalar(1), w, b), {"linear", "[]", "[3,2]"});
  EXPECT_TG_ERROR(ShapeError, linear(f32({4, 3}), w, f32({3})), {"linear", "bias [3]", "[3,2]", "[2]"});
  EXPECT_TG_ERROR(ShapeError, linear(f32({4, 3}), w, f32({1, 2})), {"linear", "bias [1,2]", "[3,2]"});
  EXPECT_TG_ERROR(DTypeError, linear(f64({4, 3}), w, b), {"linear", "[4,3]", "[3,2]", "float64"});
  EXPECT_TG_ERROR(DTypeError, linear(f32({4, 3}), w, f64({2})), {"linear", "[3,2]", "[2]", "float64"});
}

TEST(Errors, MseLoss) {
  EXPECT_TG_ERROR(ShapeError, mse(f32({3}), f32({3, 1})), {"mse", "[3,1]", "[3]"});
  EXPECT_TG_ERROR(ShapeError, mse(f32({1}), f32({})), {"mse", "[]", "[1]"});
  EXPECT_TG_ERROR(DTypeError, mse(f64({3}), f32({3})), {"mse", "[3]", "float32", "float64"});
}

TEST(Errors, FailedOpsLeaveInputsAndTapeUsable) {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64).requires_grad_();
  Tensor w = tensor({1, 0, 0, 1, 1, 1}, {3, 2}, DType::f64).requires_grad_();
  Tensor h = tanh(x);
  const std::size_t nodes = tape().num_nodes();
  std::vector<Tensor> bad_list{h, f64({3, 3})};
  EXPECT_THROW(matmul(h, x), ShapeError);
  EXPECT_THROW(linear(h, w, f64({3})), ShapeError);
  EXPECT_THROW(add(h, f64({3, 2})), ShapeError);
  EXPECT_THROW(concat(bad_list, 1), ShapeError);
  EXPECT_THROW(reshape(h, {4, 4}), ShapeError);
  EXPECT_THROW(slice(h, 1, 2, 5), ValueError);
  EXPECT_THROW(sum(h, {7}), ValueError);
  EXPECT_THROW(mse(f64({6}), h), ShapeError);
  EXPECT_THROW(mse(ones({2, 3}, DType::f32), h), DTypeError);
  EXPECT_EQ(tape().num_nodes(), nodes);  // nothing half-recorded
  EXPECT_EQ(x.shape(), (Shape{2, 3}));
  EXPECT_EQ(x.at({1, 2}), 6.0);

  // The graph built before the failures still differentiates correctly.
  sum(matmul(h, w)).backward();
  ASSERT_TRUE(x.grad().defined());
  ASSERT_TRUE(w.grad().defined());
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j) {
      const double t = std::tanh(x.at({i, j}));
      const double row = w.at({j, 0}) + w.at({j, 1});
      EXPECT_NEAR(x.grad().at({i, j}), (1 - t * t) * row, 1e-12);
    }
  // And the inputs take part in new ops.
  Tensor y = mse(zeros({2, 2}, DType::f64), matmul(x, w));
  EXPECT_TRUE(std::isfinite(y.item()));
}

}  // namespace
}  // namespace tg

// Sizes off the happy path: element and byte counts that overflow int64, negative sizes, requests
// larger than the pool's size classes, arange's counts. Every shape a tensor takes passes
// Shape::checked_numel (numpy's rule: the element size times the product of the non-zero sizes
// fits in int64); a request past it is a ShapeError naming the shape, one past the pool a
// std::bad_alloc. Big products are tested with a zero size, so nothing large is allocated.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/core/storage.h>
#include <tapegrad/tapegrad.h>

#include "support/error_of.h"

namespace tg {
namespace {

using testing::error_of;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// What a refused shape must be: a ShapeError whose message holds every word of `expected`.
void expect_shape_error(const std::function<void()>& f, const std::vector<std::string>& expected) {
  const std::string msg = error_of<ShapeError>(f);
  for (const std::string& e : expected) EXPECT_NE(msg.find(e), std::string::npos) << "'" << e << "' not in: " << msg;
}

TEST(Sizes, ElementCountThatWrapsToZeroIsAShapeError) {
  // 2^32 * 2^32 wraps to 0: the tensor had no storage and set({5, 5}) wrote out of bounds.
  expect_shape_error(
      [] {
        (void)zeros({1LL << 32, 1LL << 32});
      },
      {"zeros", "[4294967296,4294967296]", "1.845e+19 elements"});
  expect_shape_error([] { (void)ones({1LL << 32, 1LL << 32}, DType::f64); }, {"ones", "[4294967296,4294967296]"});
  expect_shape_error([] { (void)randn({1LL << 21, 1LL << 21, 1LL << 22}); }, {"randn", "[2097152,2097152,4194304]"});
  expect_shape_error([] { (void)Tensor::empty({3, 1LL << 62}); }, {"empty", "[3,4611686018427387904]"});
}

TEST(Sizes, ByteCountThatOverflowsIsAShapeError) {
  // 2^61 elements fit in int64, their 2^63 bytes of float32 do not.
  expect_shape_error([] { (void)zeros({1LL << 61}); },
                     {"zeros", "[2305843009213693952]", "of 4 bytes", "9.223e+18 bytes"});
  expect_shape_error([] { (void)zeros({1LL << 60}, DType::f64); }, {"zeros", "[1152921504606846976]", "of 8 bytes"});
  expect_shape_error([] { (void)full({1LL << 31, 1LL << 30}, 2.0); }, {"full", "[2147483648,1073741824]"});
  expect_shape_error([] { (void)from_vector(std::vector<double>{1.0}, {1LL << 62}); },
                     {"from_vector", "elements of 4 bytes"});
}

TEST(Sizes, RequestsPastThePoolsSizeClassesAreBadAlloc) {
  // 2^45 float32 are 2^47 bytes and the 64-byte header: one class past the pool's table.
  const PoolStats before = pool_stats();
  EXPECT_THROW((void)zeros({1LL << 45}), std::bad_alloc);
  EXPECT_THROW((void)zeros({100'000'000'000'000}), std::bad_alloc);
  EXPECT_THROW((void)Tensor::empty({1LL << 44}, DType::f64), std::bad_alloc);
  EXPECT_THROW((void)Tensor::empty({1LL << 60}), std::bad_alloc);  // 2^62 bytes: in int64, not in memory
  // A byte count whose header would wrap it around to a small block.
  EXPECT_THROW((void)Storage::allocate(std::numeric_limits<std::size_t>::max()), std::bad_alloc);
  EXPECT_THROW((void)Storage::allocate((std::size_t{1} << 47) - Storage::kHeader + 1), std::bad_alloc);
  EXPECT_EQ(pool_stats().bytes_in_use, before.bytes_in_use);
  // The pool still serves.
  Tensor t = zeros({1 << 16});
  EXPECT_EQ(t.at({(1 << 16) - 1}), 0.0);
}

TEST(Sizes, ViewOfAWrappedShapeIsAShapeError) {
  // (2^62 + 1) * 4 wraps to 4: the view of 4 elements was accepted.
  const Tensor x = zeros({4});
  expect_shape_error([&] { (void)x.view({(1LL << 62) + 1, 4}); }, {"view", "[4611686018427387905,4]"});
  expect_shape_error([&] { (void)x.view({1LL << 32, 1LL << 32, 4}); }, {"view", "INT64_MAX"});
}

TEST(Sizes, ReshapeToAWrappedShapeIsAShapeError) {
  const Tensor x = zeros({4});
  expect_shape_error([&] { (void)reshape(x, {(1LL << 62) + 1, 4}); }, {"reshape", "[4611686018427387905,4]"});
  // The product of the given sizes wraps to 4, so the -1 was inferred as 1.
  expect_shape_error([&] { (void)reshape(x, {-1, (1LL << 62) + 1, 4}); }, {"reshape", "INT64_MAX"});
  // ... and here to 0, which was refused only as a -1 that cannot be inferred.
  expect_shape_error([&] { (void)reshape(x, {-1, 1LL << 62, 4}); }, {"reshape", "INT64_MAX"});
}

TEST(Sizes, ReshapeInfersMinusOneBesideAHugeSize) {
  // An empty input: the -1 becomes 0, and [0, 2^62] of float32 is 2^64 bytes counting the zero as 1.
  const Tensor empty_x = zeros({0, 5});
  expect_shape_error(
      [&] {
        (void)reshape(empty_x, {-1, 1LL << 62});
      },
      {"reshape, with the -1 as 1", "[1,4611686018427387904]"});
  // Just under the limit: the largest size whose float32 bytes fit in int64.
  const Tensor ok = reshape(empty_x, {-1, kInt64Max / 4});
  EXPECT_EQ(ok.shape(), Shape({0, kInt64Max / 4}));
  EXPECT_EQ(ok.numel(), 0);
  expect_shape_error([&] { (void)reshape(empty_x, {-1, kInt64Max / 4 + 1}); }, {"reshape"});
  // A huge size next to the -1 on a non-empty input cannot divide it.
  EXPECT_THROW((void)reshape(zeros({6}), {-1, 1LL << 40}), ShapeError);
  EXPECT_EQ(reshape(zeros({6}), {-1, 3}).shape(), Shape({2, 3}));
}

TEST(Sizes, BroadcastToAWrappedShapeIsAShapeError) {
  // [1] broadcast to 2^32 x 2^32 had no storage behind its 2^64 elements.
  const Tensor x = ones({1});
  expect_shape_error(
      [&] {
        (void)broadcast_to(x, {1LL << 32, 1LL << 32});
      },
      {"broadcast_to", "[4294967296,4294967296]"});
  expect_shape_error([&] { (void)broadcast_to(x, {1LL << 31, 1LL << 31, 4}); }, {"broadcast_to", "INT64_MAX"});
  // A binary op whose operands broadcast to such a shape.
  const Tensor a = zeros({0, 1LL << 32, 1}), b = zeros({0, 1, 1LL << 32});
  EXPECT_THROW((void)(a + b), ShapeError);
  // Just under: nothing to allocate with a zero size.
  const Tensor y = broadcast_to(x, {0, kInt64Max / 4});
  EXPECT_EQ(y.shape(), Shape({0, kInt64Max / 4}));
  EXPECT_EQ(y.numel(), 0);
}

TEST(Sizes, ConcatAndStackPastInt64AreShapeErrors) {
  // Sixteen [0, 2^59]: the sizes along axis 1 add up to 2^63, one past int64.
  const std::vector<Tensor> xs(16, zeros({0, 1LL << 59}));
  expect_shape_error([&] { (void)concat(xs, 1); }, {"concat", "axis 1", "tensor 15 is [0,576460752303423488]"});
  // Eight: 2^62 float32 are 2^64 bytes.
  expect_shape_error([&] { (void)concat(std::span(xs.data(), 8), 1); }, {"concat", "[0,4611686018427387904]"});
  expect_shape_error([&] { (void)stack(xs, 0); }, {"stack", "[16,0,576460752303423488]"});
  EXPECT_EQ(concat(std::span(xs.data(), 2), 1).shape(), Shape({0, 1LL << 60}));
  EXPECT_EQ(stack(std::span(xs.data(), 2), 0).shape(), Shape({2, 0, 1LL << 59}));
}

TEST(Sizes, NegativeSizesAreRefused) {
  EXPECT_THROW((void)Shape({2, -3}), ShapeError);
  Shape s{2, 3};
  EXPECT_THROW(s.push_back(-1), ShapeError);
  s[1] = -3;  // a size changed in place is checked when a tensor takes the shape
  expect_shape_error([&] { (void)zeros(s); }, {"zeros", "negative size -3", "dimension 1"});
  expect_shape_error([&] { (void)zeros({6}).view(s); }, {"view", "negative size -3"});
  expect_shape_error([&] { (void)broadcast_to(ones({1}), s); }, {"broadcast_to", "negative size -3"});
  // reshape's only placeholder is -1.
  EXPECT_THROW((void)reshape(zeros({6}), {2, -3}), ValueError);
  EXPECT_THROW((void)reshape(zeros({6}), {-1, -1}), ValueError);
}

TEST(Sizes, ShapesJustUnderTheLimitsWork) {
  // Zero sizes keep these empty; the non-zero sizes are as large as the rule allows.
  EXPECT_EQ(zeros({0, kInt64Max / 4}).numel(), 0);
  EXPECT_EQ(zeros({0, kInt64Max / 8}, DType::f64).numel(), 0);
  expect_shape_error([] { (void)zeros({0, kInt64Max / 4 + 1}); }, {"has no elements", "zero sizes counted as 1"});
  expect_shape_error([] { (void)zeros({0, kInt64Max / 8 + 1}, DType::f64); }, {"zeros"});
  // Several dimensions: (2^61 - 2^31) float32 fit; 2^61 do not.
  const Shape under{1LL << 31, 0, (1LL << 30) - 1};
  EXPECT_EQ(zeros(under).numel(), 0);
  EXPECT_EQ(zeros({0}).view(under).shape(), under);
  EXPECT_EQ(under.checked_numel(4, "test"), 0);
  EXPECT_THROW((void)zeros({1LL << 31, 0, 1LL << 30}), ShapeError);
  // Shape::checked_numel on its own, for element sizes 1 and 8.
  EXPECT_EQ(Shape({3037000499, 3037000499}).checked_numel(1, "test"), 3037000499LL * 3037000499LL);
  EXPECT_THROW((void)Shape({3037000500, 3037000500}).checked_numel(1, "test"), ShapeError);
  EXPECT_EQ(Shape().checked_numel(8, "test"), 1);
  EXPECT_EQ(Shape({kInt64Max / 8}).checked_numel(8, "test"), kInt64Max / 8);
  // Real tensors still come out whole.
  Tensor t = ones({3, 1 << 10, 5}, DType::f64);
  EXPECT_EQ(t.numel(), 3 * 1024 * 5);
  EXPECT_EQ(t.at({2, 1023, 4}), 1.0);
  EXPECT_EQ(reshape(t, {-1, 5}).shape(), Shape({3 * 1024, 5}));
}

TEST(Sizes, ArangeRefusesNonFiniteValuesZeroStepsAndAbsurdCounts) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  auto arange_error = [](double start, double stop, double step) {
    return error_of<ValueError>([&] { (void)arange(start, stop, step); });
  };
  EXPECT_NE(arange_error(nan, 4, 1).find("start nan"), std::string::npos);
  EXPECT_NE(arange_error(0, inf, 1).find("stop inf"), std::string::npos);
  EXPECT_NE(arange_error(0, 4, -inf).find("step -inf"), std::string::npos);
  EXPECT_NE(arange_error(0, 4, 0).find("non-zero step"), std::string::npos);
  // Counts past 2^53: the pool's size classes crashed on these.
  const std::string big = arange_error(0, 4e18, 1);
  EXPECT_NE(big.find("stop 4e+18"), std::string::npos) << big;
  EXPECT_NE(big.find("9007199254740992"), std::string::npos) << big;
  EXPECT_NE(arange_error(-1e308, 1e308, 1).find("inf values"), std::string::npos);  // the count itself overflows
  EXPECT_NE(arange_error(0, 1e300, 1).find("1e+300 values"), std::string::npos);
  EXPECT_NE(arange_error(0, 1, 1e-300).find("values, more than the 9007199254740992"), std::string::npos);
  EXPECT_NE(arange_error(0, 9007199254740994.0, 1).find("9007199254740994 values"), std::string::npos);
  // 2^53 values is within the bound: memory decides.
  EXPECT_THROW((void)arange(0, 9007199254740992.0, 1), std::bad_alloc);
  // Ordinary and empty ranges.
  EXPECT_EQ(arange(0, 5, 2).to_vector(), (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(arange(5, 0, 1).numel(), 0);
  EXPECT_EQ(arange(1e300, -1e300, 1).numel(), 0);
}

}  // namespace
}  // namespace tg

#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "support/alloc_counter.h"

namespace tg {
namespace {

TEST(Tape, ChainRuleThroughTanhAndMul) {
  Tensor x = tensor({0.5, -1.0, 2.0}, DType::f64).requires_grad_();
  Tensor y = tanh(x) * x;
  EXPECT_EQ(tape().num_nodes(), 2u);
  Tensor s = y * 1.0;
  (void)s;
  Tensor g = ones_like(y);
  y.backward(g);
  for (int i = 0; i < 3; ++i) {
    double v = x.at({i});
    double t = std::tanh(v);
    EXPECT_NEAR(x.grad().at({i}), t + v * (1 - t * t), 1e-12);
  }
  EXPECT_EQ(tape().num_nodes(), 0u);
}

TEST(Tape, SharedWeightAccumulates) {
  Tensor w = scalar(0.3, DType::f64).requires_grad_();
  Tensor h = scalar(1.0, DType::f64);
  for (int t = 0; t < 5; ++t) h = tanh(h * w);
  h.backward();
  auto r = gradcheck(
      [](const std::vector<Tensor>& in) {
        Tensor h = scalar(1.0, DType::f64);
        for (int t = 0; t < 5; ++t) h = tanh(h * in[0]);
        return h;
      },
      {scalar(0.3, DType::f64)});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Tape, AutoClearsWhenNothingCanReachIt) {
  Tensor w = ones({3}).requires_grad_();
  {
    Tensor y = tanh(w * w);
    EXPECT_GT(tape().num_nodes(), 0u);
  }
  EXPECT_EQ(tape().num_nodes(), 0u);
}

TEST(Tape, BackwardTwiceIsAClearError) {
  Tensor w = ones({1}).requires_grad_();
  Tensor y = tanh(w);
  y.backward();
  EXPECT_THROW(y.backward(), GraphError);
}

}  // namespace
}  // namespace tg

namespace tg {
namespace {

TEST(Tape, BackwardOfAConstantIsAClearError) {
  Tensor c = ones({2});
  try {
    c.backward(ones({2}));
    FAIL() << "no error";
  } catch (const GraphError& e) {
    EXPECT_NE(std::string(e.what()).find("does not require grad"), std::string::npos) << e.what();
  }
}

TEST(Tape, NonScalarBackwardNeedsASeed) {
  Tensor w = ones({3}).requires_grad_();
  Tensor y = tanh(w);
  try {
    y.backward();
    FAIL() << "no error";
  } catch (const GraphError& e) {
    EXPECT_NE(std::string(e.what()).find("[3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(y.backward(ones({2})), ShapeError);  // a seed of the wrong shape
  y.backward(ones({3}));                            // the graph survived both errors
  EXPECT_NEAR(w.grad().at({0}), 1 - std::tanh(1.0) * std::tanh(1.0), 1e-6);
}

TEST(Tape, RetainGraphAllowsASecondBackwardAndGradientsAccumulate) {
  Tensor w = scalar(0.5, DType::f64).requires_grad_();
  Tensor y = w * w;
  y.backward(true);
  y.backward();
  EXPECT_DOUBLE_EQ(w.grad().item(), 2.0);  // 2 * (2 w)
  w.zero_grad();
  EXPECT_DOUBLE_EQ(w.grad().item(), 0.0);
}

TEST(Tape, NoGradGuardRecordsNothing) {
  Tensor w = ones({2}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = tanh(w) * 2.0;
    EXPECT_EQ(tape().num_nodes(), 0u);
    EXPECT_FALSE(y.requires_grad());
  }
  Tensor z = tanh(w);
  EXPECT_TRUE(z.requires_grad());
}

TEST(Tape, PoolReusesBuffersOnceWarm) {
  if (!testing::pooling_enabled()) GTEST_SKIP() << "the sanitizer build bypasses the pool";
  Tensor w = ones({64}).requires_grad_();
  for (int i = 0; i < 3; ++i) sum(tanh(w) * w).backward();
  const std::uint64_t before = pool_stats().system_allocs;
  for (int i = 0; i < 10; ++i) sum(tanh(w) * w).backward();
  EXPECT_EQ(pool_stats().system_allocs, before);
}

TEST(Storage, BlocksOfTwoMebibytesAreAlignedForHugePages) {
  // Such blocks start on a 2 MiB boundary (where the kernel can back them with huge pages); the
  // data follow the header, and every byte of them is usable.
  Tensor big = zeros({3 << 18});  // 3 MiB of floats
  const auto block = reinterpret_cast<std::uintptr_t>(big.data<float>()) - Storage::kHeader;
  EXPECT_EQ(block % (std::uintptr_t{2} << 20), 0u);
  big.data<float>()[big.numel() - 1] = 1.0f;
  EXPECT_EQ(sum(big).item(), 1.0);
  Tensor small = zeros({1000});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(small.data<float>()) % 64, 0u);
}

// Elementwise rules scale dy in its own buffer when the tape holds it alone. A gradient someone
// else can see (a retained one, or the caller's seed) must come out untouched.
TEST(Tape, InPlaceRulesLeaveGradientsOthersHoldAlone) {
  Tensor x = tensor({0.5, -1.0, 2.0}, DType::f64).requires_grad_();
  Tensor y = tanh(x);
  y.retain_grad();
  Tensor z = sigmoid(y * 3.0);
  z.retain_grad();
  Tensor seed = tensor({1.0, 2.0, 3.0}, DType::f64);
  z.backward(seed);
  for (int i = 0; i < 3; ++i) {
    const double s = seed.at({i}), zv = z.at({i}), yv = y.at({i});
    EXPECT_DOUBLE_EQ(seed.at({i}), static_cast<double>(i + 1));
    EXPECT_DOUBLE_EQ(z.grad().at({i}), s);
    EXPECT_NEAR(y.grad().at({i}), s * zv * (1 - zv) * 3.0, 1e-15);
    EXPECT_NEAR(x.grad().at({i}), y.grad().at({i}) * (1 - yv * yv), 1e-15);
  }
}

// A chain of one-input ops passes one gradient buffer down: backward allocates nothing per op.
TEST(Tape, BackwardOfAnElementwiseChainAllocatesNoBuffers) {
  if (!testing::pooling_enabled()) GTEST_SKIP() << "the sanitizer build bypasses the pool";
  Tensor x = ones({16}).requires_grad_();
  auto forward = [&] {
    Tensor y = x;
    for (int i = 0; i < 50; ++i) y = i % 2 ? tanh(y) : y * 1.0001;
    return sum(y);
  };
  forward().backward();  // warm: the leaf's gradient exists
  Tensor loss = forward();
  const std::uint64_t before = pool_stats().reuses + pool_stats().system_allocs;
  loss.backward();
  // sum's rule makes the [16] gradient; the chain reuses it down to x, whose gradient it adds into.
  EXPECT_LE(pool_stats().reuses + pool_stats().system_allocs - before, 2u);
}

// An identity op whose rule writes or adds through grad_target, logging what it was told.
std::vector<bool>& target_firsts() {
  static std::vector<bool> firsts;
  return firsts;
}

Tensor identity_via_target(const Tensor& x) {
  Tensor y = x.clone();
  record(
      "identity_via_target",
      [](BackwardContext& ctx) {
        auto [dx, first] = ctx.grad_target(0);
        target_firsts().push_back(first);
        EXPECT_EQ(dx.shape(), ctx.input_shape(0));
        const double* dy = ctx.grad_output().data<double>();
        double* d = dx.data<double>();
        for (std::int64_t i = 0; i < dx.numel(); ++i) d[i] = first ? dy[i] : d[i] + dy[i];
      },
      {&x}, y);
  return y;
}

// The first contribution to a gradient is written, the later ones added: the sums come out as
// with grad_input's zero-filled buffers, for non-leaves and for leaves with or without a gradient.
TEST(Tape, GradTargetTellsTheFirstContributionFromLaterOnes) {
  Tensor x = tensor({0.5, -1.0, 2.0}, DType::f64).requires_grad_();
  auto loss = [&] {                     // one statement an op: the recording order is the order written
    Tensor c = identity_via_target(x);  // its rule runs last, after x*2's has added into x
    Tensor h = x * 2.0;
    Tensor a = identity_via_target(h);
    Tensor b = identity_via_target(h);
    Tensor s = a * 3.0;
    s = s + b;
    s = sum(s);
    return s + sum(c);
  };
  target_firsts().clear();
  loss().backward();
  // b's rule writes h's gradient, a's adds into it; c's finds the leaf x's from x*2's rule.
  EXPECT_EQ(target_firsts(), (std::vector<bool>{true, false, false}));
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(x.grad().at({i}), 2.0 * (3.0 + 1.0) + 1.0);

  x.zero_grad();  // the leaf keeps its (zeroed) buffer
  target_firsts().clear();
  loss().backward();
  EXPECT_EQ(target_firsts(), (std::vector<bool>{true, false, false}));
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(x.grad().at({i}), 9.0);

  // A leaf without a gradient gets its buffer from the rule: written, not added.
  Tensor w = tensor({1.5, 2.5}, DType::f64).requires_grad_();
  target_firsts().clear();
  Tensor y = identity_via_target(w);
  sum(y * 4.0).backward();
  EXPECT_EQ(target_firsts(), (std::vector<bool>{true}));
  for (int i = 0; i < 2; ++i) EXPECT_DOUBLE_EQ(w.grad().at({i}), 4.0);
}

TEST(Tensor, PrintsShapeDtypeAndTruncates) {
  std::string s = arange(0, 100).str();
  EXPECT_NE(s.find("..."), std::string::npos);
  EXPECT_NE(s.find("shape=[100]"), std::string::npos);
  EXPECT_NE(s.find("dtype=float32"), std::string::npos);
  EXPECT_EQ(tensor({1, 2, 3, 4}, {2, 2}).str(), "tensor([[1, 2],\n        [3, 4]], shape=[2,2], dtype=float32)");
}

TEST(Generator, MatchesNumpyLegacySeed42) {
  Generator g(42);
  EXPECT_NEAR(g.uniform(), 0.3745401188, 1e-10);
  EXPECT_NEAR(g.uniform(), 0.9507143064, 1e-10);
  EXPECT_NEAR(g.uniform(), 0.7319939418, 1e-10);
}

}  // namespace
}  // namespace tg

// Subnormal floats are flushed to zero inside large products (ops/kernels/denormal.h), never in
// the caller's own floating-point mode, and only while tg::flush_denormal() is on.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <tapegrad/ops/isa.h>
#include <tapegrad/ops/kernels/gemm.h>

#if defined(__x86_64__)
#include <xmmintrin.h>

namespace {

constexpr unsigned kFtzDaz = 0x8040;
// The MXCSR's mode: all but its sticky exception flags (bits 0-5), which products may raise.
unsigned mode() { return _mm_getcsr() & ~0x3fu; }

// C = A B with every element of A and B 1e-20: each product, 1e-40, and their sum over k are
// below the smallest normal float (1.18e-38).
float product_of_tiny(std::int64_t n) {
  const std::vector<float> a(static_cast<std::size_t>(n * n), 1e-20f);
  std::vector<float> c(static_cast<std::size_t>(n * n), -1.0f);
  tg::kernels::gemm(false, false, n, n, n, 1.0f, a.data(), n, a.data(), n, 0.0f, c.data(), n);
  return c[0];
}

float planned_product_of_tiny(std::int64_t n) {
  const std::vector<float> a(static_cast<std::size_t>(n * n), 1e-20f);
  std::vector<float> packed(static_cast<std::size_t>(tg::kernels::packed_b_size<float>(n, n, n)));
  tg::kernels::pack_b_for(false, n, n, n, a.data(), n, packed.data());
  const auto plan = tg::kernels::plan_packed_b<float>(n, n, n);
  std::vector<float> c(static_cast<std::size_t>(n * n), -1.0f);
  tg::kernels::gemm_planned(plan, a.data(), n, packed.data(), 0.0f, c.data(), n);
  return c[0];
}

TEST(Denormal, LargeProductsFlushAndLeaveTheCallersModeAlone) {
  ASSERT_TRUE(tg::flush_denormal());  // the default
  const unsigned before = mode();
  ASSERT_EQ(before & kFtzDaz, 0u) << "the test runner's own mode keeps subnormals";
  EXPECT_EQ(product_of_tiny(64), 0.0f);  // 64^3 multiply-adds: flushed
  EXPECT_EQ(planned_product_of_tiny(64), 0.0f);
  EXPECT_EQ(mode(), before);
  // The caller's own arithmetic still makes subnormals.
  volatile float tiny = 1e-20f;
  EXPECT_GT(tiny * tiny, 0.0f);
}

TEST(Denormal, SmallProductsAndTurnedOffKeepSubnormals) {
  EXPECT_GT(product_of_tiny(8), 0.0f);  // 512 multiply-adds: no scope opened
  const bool was = tg::set_flush_denormal(false);
  EXPECT_TRUE(was);
  EXPECT_FALSE(tg::flush_denormal());
  const float kept = product_of_tiny(64);
  EXPECT_GT(kept, 0.0f);
  EXPECT_NEAR(kept, 64e-40f, 1e-42f);
  EXPECT_GT(planned_product_of_tiny(64), 0.0f);
  tg::set_flush_denormal(true);
  EXPECT_EQ(product_of_tiny(64), 0.0f);
}

TEST(Denormal, ACallerThatAlreadyFlushesKeepsItsMode) {
  const unsigned before = _mm_getcsr();
  _mm_setcsr(before | kFtzDaz);
  EXPECT_EQ(product_of_tiny(64), 0.0f);
  EXPECT_EQ(mode(), (before | kFtzDaz) & ~0x3fu);
  _mm_setcsr(before);
}

}  // namespace
#endif

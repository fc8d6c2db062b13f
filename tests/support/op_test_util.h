#pragma once
// What the op tests share: a gradcheck assertion that prints the checker's message, and seeded
// random inputs.

#include <gtest/gtest.h>

#include <vector>

#include <tapegrad/tapegrad.h>

/// EXPECT_GRADCHECK(f, inputs...): tg::gradcheck(f, {inputs...}) passes, or its message is shown.
#define EXPECT_GRADCHECK(f, ...)                              \
  do {                                                        \
    tg::GradcheckResult r_ = tg::gradcheck(f, {__VA_ARGS__}); \
    EXPECT_TRUE(r_.ok) << r_.message;                         \
  } while (0)

namespace tg::testing {

/// Uniform values in [lo, hi) from a generator seeded `seed`.
inline Tensor rnd(const Shape& s, std::uint32_t seed, double lo = -1.0, double hi = 1.0, DType d = DType::f64) {
  Generator g(seed);
  return uniform(s, lo, hi, d, &g);
}
inline Tensor rnd(const Shape& s, std::uint32_t seed, DType d) { return rnd(s, seed, -1.0, 1.0, d); }

/// `t` has `shape` and, element by element, the values `want` to within `tol`.
inline void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(t.shape(), shape);
  std::vector<double> got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace tg::testing

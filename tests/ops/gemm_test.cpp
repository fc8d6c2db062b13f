#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/ops/kernels/dispatch.h>
#include <tapegrad/ops/kernels/gemm.h>
#include "support/alloc_counter.h"

namespace tg::kernels {
namespace {

struct Case {
  bool trans_a, trans_b;
  std::int64_t m, n, k;
  double alpha, beta;
  std::int64_t pad;        // added to every leading dimension
  bool prepacked = false;  // B packed ahead of time (pack_b_for + gemm_packed_b)
  int bias = 0;            // 0: none; 1: a row [N] added to every row of C; 2: a matrix [M,N]
  bool planned = false;    // with prepacked, !trans_a and alpha = 1: plan_packed_b + gemm_planned
};

std::string describe(const Case& c) {
  return "trans_a=" + std::to_string(c.trans_a) + " trans_b=" + std::to_string(c.trans_b) +
         " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) + " pad=" + std::to_string(c.pad) +
         " prepacked=" + std::to_string(c.prepacked) + " bias=" + std::to_string(c.bias) +
         " planned=" + std::to_string(c.planned);
}

// Runs one gemm against a reference accumulated in double. C starts as NaN when beta = 0, and
// the padding columns of C (between n and ldc) must come back untouched.
template <class T>
void check(const Case& c, std::mt19937& rng) {
  SCOPED_TRACE(describe(c));
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  const std::int64_t a_rows = c.trans_a ? c.k : c.m, a_cols = c.trans_a ? c.m : c.k;
  const std::int64_t b_rows = c.trans_b ? c.n : c.k, b_cols = c.trans_b ? c.k : c.n;
  const std::int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  // Leading dimensions must be at least 1 even for empty matrices, as in BLAS.
  std::vector<T> a(a_rows * std::max<std::int64_t>(lda, 1));
  std::vector<T> b(b_rows * std::max<std::int64_t>(ldb, 1));
  for (T& x : a) x = static_cast<T>(dist(rng));
  for (T& x : b) x = static_cast<T>(dist(rng));
  // The rows' padding holds NaN: a kernel that multiplied a value past the last column, even by
  // zero, would show.
  for (std::int64_t i = 0; i < a_rows; ++i)
    for (std::int64_t j = a_cols; j < lda; ++j) a[i * lda + j] = std::numeric_limits<T>::quiet_NaN();
  for (std::int64_t i = 0; i < b_rows; ++i)
    for (std::int64_t j = b_cols; j < ldb; ++j) b[i * ldb + j] = std::numeric_limits<T>::quiet_NaN();
  const T sentinel = T(12345);
  std::vector<T> cmat(c.m * std::max<std::int64_t>(ldc, 1), sentinel);
  for (std::int64_t i = 0; i < c.m; ++i)
    for (std::int64_t j = 0; j < c.n; ++j)
      cmat[i * ldc + j] = c.beta == 0.0 ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(dist(rng));

  // A row bias has ld_bias = 0; a matrix has rows further apart than C's, so a mix-up shows.
  const std::int64_t ld_bias = c.bias == 2 ? c.n + c.pad + 2 : 0;
  std::vector<T> bias(static_cast<std::size_t>(c.bias == 2 ? c.m * ld_bias : c.n));
  for (T& x : bias) x = static_cast<T>(dist(rng));

  std::vector<double> expect(c.m * c.n), bound(c.m * c.n);
  for (std::int64_t i = 0; i < c.m; ++i) {
    for (std::int64_t j = 0; j < c.n; ++j) {
      double sum = 0.0, mag = 0.0;
      for (std::int64_t p = 0; p < c.k; ++p) {
        const double av = c.trans_a ? a[p * lda + i] : a[i * lda + p];
        const double bv = c.trans_b ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
        mag += std::abs(av * bv);
      }
      const double old = c.beta == 0.0 ? 0.0 : static_cast<double>(cmat[i * ldc + j]);
      const double add = c.bias ? static_cast<double>(bias[static_cast<std::size_t>(i * ld_bias + j)]) : 0.0;
      expect[i * c.n + j] = c.alpha * sum + add + c.beta * old;
      bound[i * c.n + j] = std::abs(c.alpha) * mag + std::abs(add) + std::abs(c.beta * old);
    }
  }

  if (c.prepacked) {
    std::vector<T> packed(static_cast<std::size_t>(packed_b_size<T>(c.m, c.n, c.k)));
    pack_b_for(c.trans_b, c.m, c.n, c.k, b.data(), ldb, packed.data());
    std::vector<T> driven = cmat;  // the same product through the driver
    gemm_packed_b(c.trans_a, c.m, c.n, c.k, static_cast<T>(c.alpha), a.data(), lda, packed.data(),
                  static_cast<T>(c.beta), driven.data(), ldc, c.bias ? bias.data() : nullptr, ld_bias);
    if (c.planned) {
      ASSERT_FALSE(c.trans_a);
      ASSERT_EQ(c.alpha, 1.0);
      const PackedPlan<T> plan = plan_packed_b<T>(c.m, c.n, c.k);
      gemm_planned(plan, a.data(), lda, packed.data(), static_cast<T>(c.beta), cmat.data(), ldc,
                   c.bias ? bias.data() : nullptr, ld_bias);
      // The plan calls the driver's kernels on the driver's tiles: the same values to the bit.
      for (std::size_t i = 0; i < cmat.size(); ++i)
        if (!(cmat[i] == driven[i] || (std::isnan(cmat[i]) && std::isnan(driven[i])))) {
          ADD_FAILURE() << "planned and driven products differ at " << i << ": " << cmat[i] << " vs " << driven[i];
          break;
        }
    } else {
      cmat = driven;
    }
  } else {
    gemm(c.trans_a, c.trans_b, c.m, c.n, c.k, static_cast<T>(c.alpha), a.data(), lda, b.data(), ldb,
         static_cast<T>(c.beta), cmat.data(), ldc, c.bias ? bias.data() : nullptr, ld_bias);
  }

  const double eps = std::numeric_limits<T>::epsilon();
  int failures = 0;
  for (std::int64_t i = 0; i < c.m && failures < 5; ++i) {
    for (std::int64_t j = 0; j < ldc && failures < 5; ++j) {
      const double got = cmat[i * ldc + j];
      if (j >= c.n) {
        if (got != sentinel) {
          ADD_FAILURE() << "padding of C written at (" << i << ", " << j << "): " << got;
          ++failures;
        }
        continue;
      }
      const double want = expect[i * c.n + j];
      const double tol = (static_cast<double>(c.k) + 2.0) * eps * bound[i * c.n + j] + 1e-30;
      if (!(std::abs(got - want) <= tol)) {
        ADD_FAILURE() << "C(" << i << ", " << j << ") = " << got << ", expected " << want << " (tolerance " << tol
                      << ")";
        ++failures;
      }
    }
  }
}

struct Shape {
  std::int64_t m, n, k;
};

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> all = {
      {0, 0, 0},
      {0, 5, 3},
      {5, 0, 3},
      {5, 3, 0},
      {1, 1, 1},
      {1, 9, 4},
      {9, 1, 4},
      {7, 6, 1},
      {5, 7, 3},
      {33, 17, 65},
      {13, 25, 31},
      {6, 16, 8},
      {4, 24, 8},
      {12, 48, 10},
      {2, 3, 2},
      {32, 20, 20},
      {32, 20, 1},
      {32, 1, 20},
      {20, 20, 32},
      {20, 1, 1600},
      {20, 20, 1600},
      {7, 9, 300},
      {130, 40, 20},
      {3, 2100, 5},
      {64, 70, 17},
      {128, 96, 40},
      // N = 1 below one vector of K (an RNN of one unit) and single dot products (M = N = 1)
      {32, 1, 1},
      {6, 1, 3},
      {1, 1, 7},
      {1, 1, 37},
      {1, 1, 1599},
      // rows half a vector past whole ones (N = 4, 12, 28 floats with AVX2, 8, 24, 40 with
      // AVX-512; 2, 6, 10 doubles with AVX2, 4, 12, 28 with AVX-512), stored two rows at a time
      // as whole vectors when C is dense
      {8, 12, 5},
      {6, 4, 7},
      {10, 28, 9},
      {4, 2, 3},
      {6, 10, 4},
      {9, 12, 3},
      {8, 24, 5},
      {6, 8, 7},
      {10, 40, 9},
      {16, 24, 33},
      // rows of two past whole vectors (N = 10 floats: a Dense(10)); with A^T and a long K, the
      // product computed transposed (20 x 1600 x 10), tiles of few chains splitting K (1 x 1600
      // x 20, an odd K), and the same over shorter K
      {8, 10, 20},
      {20, 10, 1600},
      {1, 20, 1599},
      {16, 10, 300},
      {30, 17, 70},
      {4, 10, 65},
      // an LSTM's and a GRU's recurrent weight gradients (A^T, K = B*T - 1): their wide B
      // (1599 x 80, 1599 x 60) read in place by the three row panels, the last vector masked
      {20, 80, 1599},
      {20, 60, 1599},
      // A packed (wide N) with a last vector a quarter full or less (130 = 128 + 2, 260 = 256 + 4)
      {16, 130, 20},
      {24, 260, 33},
      // K = 1, an outer product (row by row, a masked last vector), and short K on either side of
      // the shortest that AVX-512's quarter tiles take by groups of four k (12)
      {40, 37, 1},
      {9, 60, 1},
      {32, 20, 6},
      {32, 20, 11},
      {24, 20, 12}};
  return all;
}

template <class T>
void check_all_shapes(std::uint32_t seed, bool prepacked = false, int bias = 0) {
  std::mt19937 rng(seed);
  const double alphas[] = {1.0, 0.0, -0.75};
  const double betas[] = {0.0, 1.0, 0.5};
  for (const Shape& s : shapes())
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (double alpha : alphas)
          for (double beta : betas)
            for (std::int64_t pad : {0, 3}) check<T>({ta, tb, s.m, s.n, s.k, alpha, beta, pad, prepacked, bias}, rng);
}

TEST(Gemm, FloatMatchesReferenceOnManyShapes) { check_all_shapes<float>(1); }

TEST(Gemm, DoubleMatchesReferenceOnManyShapes) { check_all_shapes<double>(2); }

// B packed once ahead of time (an RNN's recurrent kernel) gives the same products.
TEST(Gemm, PrepackedFloatMatchesReferenceOnManyShapes) { check_all_shapes<float>(3, true); }

TEST(Gemm, PrepackedDoubleMatchesReferenceOnManyShapes) { check_all_shapes<double>(4, true); }

// A bias added to every row as the tiles are written (a linear layer), on every path: the tile
// kernels over several blocks of K, the matrix-vector products of N = 1, and K = 0 or alpha = 0.
TEST(Gemm, BiasFloatMatchesReferenceOnManyShapes) { check_all_shapes<float>(5, false, 1); }

TEST(Gemm, BiasDoubleMatchesReferenceOnManyShapes) { check_all_shapes<double>(6, false, 1); }

// A matrix added row by row (an RNN step's xw[:, t, :], rows T * H apart), on the same paths
// and with B packed ahead of time, as the scan calls it.
TEST(Gemm, BiasMatrixFloatMatchesReferenceOnManyShapes) { check_all_shapes<float>(7, false, 2); }

TEST(Gemm, BiasMatrixDoubleMatchesReferenceOnManyShapes) { check_all_shapes<double>(8, false, 2); }

TEST(Gemm, BiasMatrixPrepackedFloatMatchesReferenceOnManyShapes) { check_all_shapes<float>(9, true, 2); }

// A product planned once and repeated (a recurrent scan's steps): the plan's direct kernel calls
// for one block (N up to one panel, as 32 x 20 x 20), the driver for the rest (N = 1, K = 0,
// N wider than a panel, K past a block).
template <class T>
void check_planned(std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Shape> all = shapes();
  all.push_back({40, 20, 300});  // K past one block (256)
  all.push_back({500, 20, 20});  // M past one block of rows
  int direct = 0;
  for (const Shape& s : all) {
    direct += plan_packed_b<T>(s.m, s.n, s.k).direct;
    for (bool tb : {false, true})
      for (double beta : {0.0, 1.0, 0.5})
        for (std::int64_t pad : {0, 3})
          for (int bias : {0, 1, 2}) check<T>({false, tb, s.m, s.n, s.k, 1.0, beta, pad, true, bias, true}, rng);
  }
  // Both paths are taken. How many shapes plan direct calls depends on the vector width (15 of
  // the 39 in float with AVX2, 8 in double, 2 without AVX2, whose panels are 2 or 3 columns).
  EXPECT_GT(direct, 0);
  EXPECT_LT(direct, static_cast<int>(all.size()));
  EXPECT_TRUE(plan_packed_b<T>(32, 2, 20).direct);
  // The scan's steps at H = 20: one panel of B when a panel is at least 20 wide.
  // The kernel path is the one taken at run time (scripts/test.sh runs this with each forced).
  if (active_isa() == Isa::v4) {
    EXPECT_TRUE(plan_packed_b<T>(32, 20, 20).direct);  // 6 x 32 floats, 4 x 24 doubles
  } else if (active_isa() == Isa::v3) {
    EXPECT_EQ(plan_packed_b<T>(32, 20, 20).direct, (std::is_same_v<T, float>));  // 4 x 24 floats, 6 x 8 doubles
  }
  EXPECT_FALSE(plan_packed_b<T>(32, 1, 20).direct);
  EXPECT_FALSE(plan_packed_b<T>(40, 20, 300).direct);
  EXPECT_FALSE(plan_packed_b<T>(64, 256, 256).direct);
}

TEST(Gemm, PlannedFloatMatchesTheDriverBitForBit) { check_planned<float>(10); }

TEST(Gemm, PlannedDoubleMatchesTheDriverBitForBit) { check_planned<double>(11); }

// With AVX-512, a product whose last vector is a quarter full (a scan's 32 x 20 x 20 step) reads
// B's last quarter by groups of four k. pack_b_for makes them once, after the panels, and the
// plan reads them there: spoiling them changes the planned product, not the driver's, which
// makes its own at every call. On the other paths no plan has them.
TEST(Gemm, PlanReadsTheGroupsPackedWithB) {
  const std::int64_t m = 32, n = 20, k = 22;  // K not a multiple of four: the last group padded
  const PackedPlan<float> plan = plan_packed_b<float>(m, n, k);
  EXPECT_EQ(plan_packed_b<float>(64, 256, 256).groups, -1);
  EXPECT_EQ(plan_packed_b<double>(m, n, k).groups, -1);
  if (active_isa() != Isa::v4) {
    EXPECT_EQ(plan.groups, -1);
    return;
  }
  ASSERT_TRUE(plan.direct);
  ASSERT_GE(plan.groups, 0);
  const std::int64_t size = packed_b_size<float>(m, n, k);
  EXPECT_EQ(size, plan.groups + 24 * 4);  // round_up(k, 4) groups' rows of four columns
  std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& x : a) x = dist(rng);
  for (float& x : b) x = dist(rng);
  std::vector<float> packed(static_cast<std::size_t>(size));
  pack_b_for(false, m, n, k, b.data(), n, packed.data());
  std::vector<float> planned(static_cast<std::size_t>(m * n)), driven(planned.size());
  gemm_planned(plan, a.data(), k, packed.data(), 0.0f, planned.data(), n);
  gemm_packed_b(false, m, n, k, 1.0f, a.data(), k, packed.data(), 0.0f, driven.data(), n);
  EXPECT_EQ(planned, driven);
  std::fill(packed.begin() + plan.groups, packed.end(), 0.0f);  // the last quarter's products now add nothing
  gemm_planned(plan, a.data(), k, packed.data(), 0.0f, planned.data(), n);
  gemm_packed_b(false, m, n, k, 1.0f, a.data(), k, packed.data(), 0.0f, driven.data(), n);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * n + j);
      if (j < 16)
        EXPECT_EQ(planned[at], driven[at]) << i << ", " << j;
      else
        EXPECT_EQ(planned[at], 0.0f) << i << ", " << j;
    }
}

TEST(Gemm, FloatLarge) {
  std::mt19937 rng(3);
  check<float>({false, false, 512, 512, 512, 1.0, 0.0, 0}, rng);
  check<float>({true, true, 300, 257, 520, 0.5, 1.0, 5}, rng);
}

TEST(Gemm, DoubleLarge) {
  std::mt19937 rng(4);
  check<double>({true, false, 200, 150, 300, 1.0, 1.0, 2}, rng);
  check<double>({false, true, 150, 260, 270, -1.0, 0.0, 0}, rng);
}

TEST(Gemm, BetaZeroOverwritesNaNEvenWhenAlphaIsZero) {
  const float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1};
  float c[4];
  for (float& x : c) x = std::numeric_limits<float>::quiet_NaN();
  gemm(false, false, 2, 2, 2, 0.0f, a, 2, b, 2, 0.0f, c, 2);
  for (float x : c) EXPECT_EQ(x, 0.0f);
  for (float& x : c) x = std::numeric_limits<float>::quiet_NaN();
  gemm(false, false, 2, 2, 0, 1.0f, a, 2, b, 2, 0.0f, c, 2);
  for (float x : c) EXPECT_EQ(x, 0.0f);
}

TEST(Gemm, BetaOneAccumulatesAcrossCalls) {
  // A weight gradient summed over time steps: C += A_t^T B_t.
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  const int steps = 7, batch = 32, h = 20;
  std::vector<double> a(steps * batch * h), b(steps * batch * h), c(h * h, 0.0), expect(h * h, 0.0);
  for (double& x : a) x = dist(rng);
  for (double& x : b) x = dist(rng);
  for (int t = 0; t < steps; ++t) {
    const double* at = a.data() + t * batch * h;
    const double* bt = b.data() + t * batch * h;
    gemm(true, false, h, h, batch, 1.0, at, h, bt, h, 1.0, c.data(), h);
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < h; ++j)
        for (int p = 0; p < batch; ++p) expect[i * h + j] += at[p * h + i] * bt[p * h + j];
  }
  for (int i = 0; i < h * h; ++i) EXPECT_NEAR(c[i], expect[i], 1e-12);
}

TEST(Gemm, WarmCallsDoNotAllocate) {
  // The packing buffers are thread-local and only grow: once every shape of a training step has
  // been seen, no call allocates. The shapes pack B, B^T and A, and copy a strided vector.
  std::vector<float> a(256 * 1600, 0.5f), b(1600 * 256, 0.25f), c(256 * 256);
  auto step = [&] {
    gemm(false, false, 32, 20, 20, 1.0f, a.data(), 20, b.data(), 20, 0.0f, c.data(), 20);
    gemm(true, false, 20, 20, 1600, 1.0f, a.data(), 20, b.data(), 20, 1.0f, c.data(), 20);
    gemm(true, false, 20, 10, 1600, 1.0f, a.data(), 20, b.data(), 10, 1.0f, c.data(), 10);  // transposed
    gemm(false, true, 32, 20, 20, 1.0f, a.data(), 20, b.data(), 20, 0.0f, c.data(), 20);
    gemm(false, false, 64, 256, 256, 1.0f, a.data(), 256, b.data(), 256, 0.0f, c.data(), 256);
    gemm(false, false, 32, 1, 20, 1.0f, a.data(), 20, b.data(), 4, 0.0f, c.data(), 1);
  };
  step();
  testing::AllocCounter counter;
  for (int i = 0; i < 3; ++i) step();
  EXPECT_EQ(counter.count(), 0u);
}

}  // namespace
}  // namespace tg::kernels

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <tapegrad/ops/isa.h>
#include <tapegrad/ops/kernels/rows.h>
#include <tapegrad/ops/kernels/unary.h>

#include "support/keep_isa.h"

namespace tg::kernels {
namespace {

// add_column_sums against sums in double, for every width of the register blocks (1-32), the
// chunked path past them, row counts around the R partial sums, and a row stride wider than the
// block whose padding holds NaN: a read past the last column would show.
template <class T>
void check_column_sums(std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (std::int64_t cols = 1; cols <= 70; ++cols) {
    for (std::int64_t rows : {0, 1, 3, 4, 5, 7, 9, 1600}) {
      SCOPED_TRACE(::testing::Message() << "cols=" << cols << " rows=" << rows);
      const std::int64_t stride = cols + 3;
      std::vector<T> src(static_cast<std::size_t>(rows * stride), std::numeric_limits<T>::quiet_NaN());
      std::vector<double> want(static_cast<std::size_t>(cols)), mag(static_cast<std::size_t>(cols));
      std::vector<T> dst(static_cast<std::size_t>(cols));
      for (std::int64_t j = 0; j < cols; ++j) {
        dst[static_cast<std::size_t>(j)] = static_cast<T>(dist(rng));
        want[static_cast<std::size_t>(j)] = dst[static_cast<std::size_t>(j)];
        mag[static_cast<std::size_t>(j)] = std::abs(want[static_cast<std::size_t>(j)]);
      }
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j) {
          const T x = static_cast<T>(dist(rng));
          src[static_cast<std::size_t>(i * stride + j)] = x;
          want[static_cast<std::size_t>(j)] += x;
          mag[static_cast<std::size_t>(j)] += std::abs(x);
        }
      add_column_sums(src.data(), stride, rows, cols, dst.data());
      const double eps = std::numeric_limits<T>::epsilon();
      for (std::int64_t j = 0; j < cols; ++j) {
        const auto u = static_cast<std::size_t>(j);
        EXPECT_NEAR(dst[u], want[u], (static_cast<double>(rows) + 2.0) * eps * mag[u]) << "column " << j;
      }
    }
  }
}

TEST(Rows, GatherRowsCopiesThePickedRowsInOrder) {
  // Row sizes below a cache line, not a multiple of one, and past the 4 KiB prefetched per row;
  // counts around the prefetch distance; indices repeated and out of order.
  std::mt19937 rng(3);
  for (std::size_t row_bytes : {std::size_t{12}, std::size_t{2000}, std::size_t{5003}}) {
    const std::int64_t n = 40;
    std::vector<unsigned char> src(static_cast<std::size_t>(n) * row_bytes);
    for (auto& v : src) v = static_cast<unsigned char>(rng());
    for (std::int64_t count : {0, 1, 2, 3, 32}) {
      std::vector<std::int64_t> idx(static_cast<std::size_t>(count));
      for (auto& i : idx) i = static_cast<std::int64_t>(rng() % n);
      std::vector<unsigned char> dst(static_cast<std::size_t>(count) * row_bytes + 1, 0xAB);
      gather_rows(src.data(), row_bytes, idx.data(), count, dst.data());
      for (std::int64_t i = 0; i < count; ++i)
        for (std::size_t b = 0; b < row_bytes; ++b)
          ASSERT_EQ(dst[static_cast<std::size_t>(i) * row_bytes + b],
                    src[static_cast<std::size_t>(idx[static_cast<std::size_t>(i)]) * row_bytes + b])
              << "row_bytes " << row_bytes << " count " << count << " row " << i << " byte " << b;
      EXPECT_EQ(dst.back(), 0xAB) << "written past the last row";
    }
  }
}

TEST(Rows, ColumnSumsFloatMatchReferenceSums) { check_column_sums<float>(1); }

TEST(Rows, ColumnSumsDoubleMatchReferenceSums) { check_column_sums<double>(2); }

// spread_rows copies a dense block into strided rows exactly as copy_rows does: every width
// from below a vector to several (rows split mid-vector at every offset), row counts that leave
// a tail of fewer than a vector, and a destination whose gaps hold NaN and must keep it.
TEST(Rows, SpreadRowsMatchesCopyRows) {
  for (std::int64_t cols = 1; cols <= 41; ++cols)
    for (std::int64_t rows : {0, 1, 2, 3, 5, 8, 32, 33, 100}) {
      SCOPED_TRACE(::testing::Message() << "cols=" << cols << " rows=" << rows);
      const std::int64_t stride = cols + 3;
      std::vector<float> src(static_cast<std::size_t>(rows * cols));
      for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i) + 0.5f;
      std::vector<float> want(static_cast<std::size_t>(rows * stride + 1), std::numeric_limits<float>::quiet_NaN());
      std::vector<float> got(want);
      copy_rows(src.data(), cols, want.data(), stride, rows, cols);
      spread_rows(src.data(), got.data(), stride, rows, cols);
      for (std::size_t i = 0; i < want.size(); ++i) {
        if (std::isnan(want[i]))
          ASSERT_TRUE(std::isnan(got[i])) << "index " << i << " is a gap, got " << got[i];
        else
          ASSERT_EQ(got[i], want[i]) << "index " << i;
      }
    }
}

// map2_rows writes f of a dense block and a strided one into strided rows, value for value what
// a loop over the rows computes: every width, tails, gaps kept. tanh_grad_rows, its vectorised
// form for a recurrent step's dz = dh (1 - h^2) with h read from the sequence buffer, writes the
// values of the dense loop on the same kernel path (tanh_grad_inplace; another path or the
// caller's code may contract y^2 and the subtraction into an FMA, or not), into the rows.
template <class T>
void check_map2_rows() {
  auto f = [](auto g, auto y) { return g * (T(1) - y * y); };
  for (std::int64_t cols = 1; cols <= 41; ++cols)
    for (std::int64_t rows : {0, 1, 2, 3, 5, 8, 32, 33, 100}) {
      SCOPED_TRACE(::testing::Message() << "cols=" << cols << " rows=" << rows);
      const std::int64_t stride = cols + 3;
      const auto n = static_cast<std::size_t>(rows * cols), spread_n = static_cast<std::size_t>(rows * stride + 1);
      std::vector<T> a(n), b_dense(n), b(spread_n, T(5));  // b: b_dense's rows, stride apart
      for (std::size_t i = 0; i < n; ++i) {
        a[i] = static_cast<T>(std::sin(0.3 * static_cast<double>(i)));
        b_dense[i] = static_cast<T>(std::cos(0.7 * static_cast<double>(i)));
      }
      copy_rows(b_dense.data(), cols, b.data(), stride, rows, cols);
      std::vector<T> want(spread_n, T(-7)), got(want);
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j)
          want[static_cast<std::size_t>(i * stride + j)] =
              f(a[static_cast<std::size_t>(i * cols + j)], b_dense[static_cast<std::size_t>(i * cols + j)]);
      map2_rows(a.data(), b.data(), got.data(), stride, rows, cols, f);
      for (std::size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "index " << i;
      std::vector<T> dense = a, spread(want.size(), T(-7));
      tanh_grad_inplace(b_dense.data(), dense.data(), rows * cols);
      copy_rows(dense.data(), cols, want.data(), stride, rows, cols);
      tanh_grad_rows(a.data(), b.data(), spread.data(), stride, rows, cols);
      for (std::size_t i = 0; i < want.size(); ++i) ASSERT_EQ(spread[i], want[i]) << "tanh_grad_rows " << i;
    }
}

TEST(Rows, Map2RowsMatchesARowLoop) { check_map2_rows<float>(); }

TEST(Rows, Map2RowsDoubleMatchesARowLoop) { check_map2_rows<double>(); }

// tanh of a step's output written to it and spread into the sequence in one pass: the same
// values, to the bit, as tanh_forward followed by spread_rows, on every width (vectors that split
// across two rows, tails) and with the output in place of its input or apart from it.
template <class T>
void check_tanh_forward_spread() {
  for (std::int64_t cols = 1; cols <= 41; ++cols)
    for (std::int64_t rows : {0, 1, 2, 3, 5, 8, 32, 33, 100})
      for (bool in_place : {true, false}) {
        SCOPED_TRACE(::testing::Message() << "cols=" << cols << " rows=" << rows << " in_place=" << in_place);
        const std::int64_t stride = cols + 3;
        std::vector<T> x(static_cast<std::size_t>(rows * cols));
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(std::sin(0.7 * static_cast<double>(i)) * 4.0);
        if (!x.empty()) x[x.size() / 2] = std::numeric_limits<T>::quiet_NaN();
        std::vector<T> want_y(x.size());
        std::vector<T> want(static_cast<std::size_t>(rows * stride + 1), T(-7)), got(want);
        tanh_forward(x.data(), want_y.data(), rows * cols);
        spread_rows(want_y.data(), want.data(), stride, rows, cols);
        std::vector<T> got_y = in_place ? x : std::vector<T>(x.size(), T(5));
        tanh_forward_spread(in_place ? got_y.data() : x.data(), got_y.data(), got.data(), stride, rows, cols);
        for (std::size_t i = 0; i < want_y.size(); ++i)
          ASSERT_TRUE(got_y[i] == want_y[i] || (std::isnan(got_y[i]) && std::isnan(want_y[i]))) << "y " << i;
        for (std::size_t i = 0; i < want.size(); ++i)
          ASSERT_TRUE(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]))) << "row index " << i;
      }
}

TEST(Rows, TanhForwardSpreadMatchesTanhThenSpread) { check_tanh_forward_spread<float>(); }

TEST(Rows, TanhForwardSpreadDoubleMatchesTanhThenSpread) { check_tanh_forward_spread<double>(); }

TEST(Rows, SpreadRowsDoubleIsCopyRows) {
  const std::vector<double> src = {1, 2, 3, 4, 5, 6};
  std::vector<double> dst(9, -1.0);
  spread_rows(src.data(), dst.data(), 3, 3, 2);
  EXPECT_EQ(dst, (std::vector<double>{1, 2, -1, 3, 4, -1, 5, 6, -1}));
}

TEST(Rows, CopyAndAddRowsTouchOnlyTheirColumns) {
  // Rows 5 apart in the source, 4 apart in the destination, 3 columns each.
  std::vector<float> src(20), dst(16, -1.0f);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i);
  copy_rows(src.data(), 5, dst.data(), 4, 4, 3);
  for (std::int64_t i = 0; i < 4; ++i) {
    for (std::int64_t j = 0; j < 3; ++j)
      EXPECT_EQ(dst[static_cast<std::size_t>(i * 4 + j)], src[static_cast<std::size_t>(i * 5 + j)]);
    EXPECT_EQ(dst[static_cast<std::size_t>(i * 4 + 3)], -1.0f);
  }
  add_rows(src.data(), 5, dst.data(), 4, 4, 3);
  for (std::int64_t i = 0; i < 4; ++i) {
    for (std::int64_t j = 0; j < 3; ++j)
      EXPECT_EQ(dst[static_cast<std::size_t>(i * 4 + j)], 2.0f * src[static_cast<std::size_t>(i * 5 + j)]);
    EXPECT_EQ(dst[static_cast<std::size_t>(i * 4 + 3)], -1.0f);
  }
  copy_or_add_rows(src.data(), 5, dst.data(), 4, 4, 3, true);  // adds: three times the source
  EXPECT_EQ(dst[4 + 1], 3.0f * src[5 + 1]);
  copy_or_add_rows(src.data(), 5, dst.data(), 4, 4, 3, false);  // copies: the source again
  for (std::int64_t i = 0; i < 4; ++i) {
    for (std::int64_t j = 0; j < 3; ++j)
      EXPECT_EQ(dst[static_cast<std::size_t>(i * 4 + j)], src[static_cast<std::size_t>(i * 5 + j)]);
    EXPECT_EQ(dst[static_cast<std::size_t>(i * 4 + 3)], -1.0f);
  }
}

// The squared-error sum on every path the CPU runs, against the plain loop it replaced (eight
// partial sums in double, value i to sum i % 8, each square rounded, then added in order): the
// same bits for every length around the vectors' widths, and nothing read past n (a NaN there
// would show). Its gradient, set and added, against the same formula.
TEST(Rows, SquaredErrorSumIsThePlainLoopOnEveryPath) {
  testing::KeepIsa keep;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (std::string_view path : kernel_isas_available()) {
    set_kernel_isa(path);
    for (std::int64_t n : {0, 1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 1000, 16000}) {
      SCOPED_TRACE(::testing::Message() << "path " << path << " n=" << n);
      std::vector<float> p(static_cast<std::size_t>(n) + 8, std::numeric_limits<float>::quiet_NaN());
      std::vector<float> t(p);
      for (std::int64_t i = 0; i < n; ++i) {
        p[static_cast<std::size_t>(i)] = dist(rng);
        t[static_cast<std::size_t>(i)] = dist(rng);
      }
      double part[8] = {};
      for (std::int64_t i = 0; i < n; ++i) {
        const double e = static_cast<double>(p[static_cast<std::size_t>(i)]) - t[static_cast<std::size_t>(i)];
        const double sq = e * e;
        part[i % 8] = part[i % 8] + sq;
      }
      double want = 0.0;
      for (double v : part) want += v;
      const double got = squared_error_sum(p.data(), t.data(), n);
      EXPECT_EQ(std::bit_cast<std::uint64_t>(got), std::bit_cast<std::uint64_t>(want)) << got << " vs " << want;

      std::vector<float> d(static_cast<std::size_t>(n), 0.5f);
      scaled_difference(-0.25f, p.data(), t.data(), d.data(), n, true);
      for (std::int64_t i = 0; i < n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        ASSERT_FLOAT_EQ(d[k], 0.5f + -0.25f * (p[k] - t[k])) << i;
      }
      scaled_difference(2.0f, p.data(), t.data(), d.data(), n, false);
      for (std::int64_t i = 0; i < n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        ASSERT_EQ(d[k], 2.0f * (p[k] - t[k])) << i;
      }
    }
  }
}

}  // namespace
}  // namespace tg::kernels

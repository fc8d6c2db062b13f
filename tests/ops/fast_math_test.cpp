// The float32 approximations of ops/kernels/unary.h against the C library in double.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/ops/isa.h>
#include <tapegrad/ops/kernels/gated.h>
#include <tapegrad/ops/kernels/unary.h>

#include "support/keep_isa.h"

namespace tg::kernels {
namespace {

std::vector<float> grid() {
  std::vector<float> xs;
  for (float x = -20.0f; x <= 20.0f; x += 0.000731f) xs.push_back(x);
  for (float x = 1e-30f; x < 1.0f; x *= 1.37f) xs.push_back(x), xs.push_back(-x);
  xs.push_back(0.0f);
  xs.push_back(-0.0f);
  // Where tanh's range reduction steps from k = 0 to k = -1 (2|x| = ln2 / 2) and to k = -2.
  for (float edge : {0.1732868f, 0.5198604f})
    for (float x = edge * 0.999f; x < edge * 1.001f; x = std::nextafter(x, 1.0f)) xs.push_back(x);
  xs.push_back(1e4f);
  xs.push_back(-1e4f);
  return xs;
}

TEST(FastMath, TanhWithinTwoUlp) {
  std::vector<float> xs = grid(), ys(xs.size());
  tanh_forward(xs.data(), ys.data(), static_cast<std::int64_t>(xs.size()));
  double worst_ulps = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double ref = std::tanh(static_cast<double>(xs[i]));
    const double ulp = std::max(std::abs(ref), 1e-38) * std::numeric_limits<float>::epsilon();
    const double ulps = std::abs(ys[i] - ref) / ulp;
    worst_ulps = std::max(worst_ulps, ulps);
    ASSERT_LE(ulps, 2.0) << "x = " << xs[i] << ": " << ys[i] << " vs " << ref;
    ASSERT_LE(std::abs(ys[i]), 1.0f);
  }
  EXPECT_GT(worst_ulps, 0.0);  // the grid does reach rounding differences
}

// The same code on vectors of the active path's width (tanh_forward_spread runs tanh_lanes on
// eight floats with v3, sixteen with v4) and on one float at a time: the same values, to the
// bit, NaN and the signs of zero too. scripts/test.sh runs it with each path forced.
TEST(FastMath, TanhOnVectorsMatchesTanhOnFloats) {
  std::vector<float> xs = grid();
  xs.push_back(std::numeric_limits<float>::quiet_NaN());
  xs.push_back(std::numeric_limits<float>::infinity());
  xs.push_back(-std::numeric_limits<float>::infinity());
  const std::int64_t cols = 48;  // whole vectors of 8 and 16 in every row
  while (xs.size() % cols != 0) xs.push_back(0.25f);
  std::vector<float> want(xs.size()), got(xs.size()), spread(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) tanh_forward(xs.data() + i, want.data() + i, 1);
  const std::int64_t rows = static_cast<std::int64_t>(xs.size()) / cols;
  tanh_forward_spread(xs.data(), got.data(), spread.data(), cols, rows, cols);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    ASSERT_EQ(std::bit_cast<std::uint32_t>(got[i]), std::bit_cast<std::uint32_t>(want[i])) << "x = " << xs[i];
    ASSERT_EQ(std::bit_cast<std::uint32_t>(spread[i]), std::bit_cast<std::uint32_t>(want[i])) << "x = " << xs[i];
  }
}

// sigmoid_lanes, the vector sigmoid of the float LSTM and GRU kernels, against sigmoid_forward
// on one float at a time, to the bit (NaN included), on every path: lstm_gates_forward with no
// c_prev leaves sigmoid of its input gate's pre-activations in place, on vectors of eight with
// v3 and v4 (whole ones, and masked ones across the ends of rows of 44; ops/kernels/gated_isa.h).
TEST(FastMath, SigmoidOnVectorsMatchesSigmoidOnFloats) {
  std::vector<float> xs = grid();
  xs.push_back(std::numeric_limits<float>::quiet_NaN());
  xs.push_back(-std::numeric_limits<float>::quiet_NaN());
  xs.push_back(std::bit_cast<float>(0x7f800001u));  // signalling, with a payload
  xs.push_back(std::bit_cast<float>(0xffc01234u));  // negative, with a payload
  xs.push_back(std::numeric_limits<float>::infinity());
  xs.push_back(-std::numeric_limits<float>::infinity());
  const std::int64_t u = 44;
  while (xs.size() % u != 0) xs.push_back(0.25f);
  const std::int64_t rows = static_cast<std::int64_t>(xs.size()) / u;
  std::vector<float> want(xs.size());
  testing::KeepIsa keep;
  for (std::string_view path : kernel_isas_available()) {
    set_kernel_isa(path);
    for (std::size_t k = 0; k < xs.size(); ++k) sigmoid_forward(xs.data() + k, want.data() + k, 1);
    std::vector<float> gates(static_cast<std::size_t>(rows * 5 * u), 0.0f), c(xs.size()), h(xs.size());
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(gates.data() + r * 5 * u, xs.data() + r * u, static_cast<std::size_t>(u) * sizeof(float));
    lstm_gates_forward(gates.data(), static_cast<const float*>(nullptr), c.data(), h.data(), rows, u);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < u; ++j) {
        const auto k = static_cast<std::size_t>(r * u + j);
        ASSERT_EQ(std::bit_cast<std::uint32_t>(gates[static_cast<std::size_t>(r * 5 * u + j)]),
                  std::bit_cast<std::uint32_t>(want[k]))
            << path << ", x = " << xs[k];
      }
  }
}

TEST(FastMath, SigmoidWithinFourUlp) {
  std::vector<float> xs = grid(), ys(xs.size());
  sigmoid_forward(xs.data(), ys.data(), static_cast<std::int64_t>(xs.size()));
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i];
    const double ref = x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
    if (ref < 1e-37) continue;  // below float's normal range the exp is clamped
    const double ulps = std::abs(ys[i] - ref) / (ref * std::numeric_limits<float>::epsilon());
    ASSERT_LE(ulps, 4.0) << "x = " << xs[i] << ": " << ys[i] << " vs " << ref;
  }
}

TEST(FastMath, NonFiniteInputs) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  float in[5] = {nan, inf, -inf, 0.0f, -0.0f}, out[5];
  tanh_forward(in, out, 5);
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], -1.0f);
  EXPECT_EQ(out[3], 0.0f);
  EXPECT_FALSE(std::signbit(out[3]));
  EXPECT_TRUE(std::signbit(out[4]));  // tanh(-0) = -0
  sigmoid_forward(in, out, 4);
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_NEAR(out[2], 0.0f, 1e-37f);
  EXPECT_EQ(out[3], 0.5f);
}

}  // namespace
}  // namespace tg::kernels

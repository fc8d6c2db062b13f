#pragma once
/// \file
/// Elementwise loops over contiguous buffers (no tensors, no tape). The compiler vectorises them.
/// float32 tanh, sigmoid and exp use branch-free approximations accurate to a few ulp (tested
/// against std:: in tests/ops/fast_math_test.cpp); float64 keeps the C library's functions, so
/// gradient checks run on exact math.

#include <bit>
#include <cmath>
#include <cstdint>

#include "ops/kernels/rows.h"

namespace tg::kernels {

namespace detail {
/// Range reduction of a float y for exp: y = k ln2 + r with |r| <= ln2/2 (ln2 split in two for
/// exactness), and 2^k built from the exponent bits rather than by an int conversion, which is
/// undefined for NaN input (NaN still comes out: r is NaN). Valid for -126 < k < 128.
struct ExpReduced {
  float r;      ///< y - k ln2
  float scale;  ///< 2^k
};
inline ExpReduced reduce_exp(float y) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723212e-6f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float shifted = y * kLog2e + kRound;  // k in the low bits of the mantissa
  const float k = shifted - kRound;
  const std::int32_t bits = std::bit_cast<std::int32_t>(shifted) + (127 - std::bit_cast<std::int32_t>(kRound));
  return {(y - k * kLn2Hi) - k * kLn2Lo, std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 23)};
}

/// exp(y) for float y <= 0, with y clamped at -87 (the bottom of float's normal range): exp(r)
/// by its Taylor series to r^7 (truncation error < 2e-9 relative), times 2^k. One-sided: the
/// callers pass -|x|, and the single clamp is a max.
inline float exp_nonpositive(float y) {
  y = y < -87.0f ? -87.0f : y;
  const auto [r, scale] = reduce_exp(y);
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * scale;
}

/// Lane bits of f32x8 (rows.h): tanh's code below serves the vector and the plain float alike,
/// for loops that hold a vector of values in hand (tanh_forward_spread).
using u32x8 = std::uint32_t __attribute__((vector_size(32)));

template <class V>
struct LaneBits {
  using type = std::uint32_t;
};
template <>
struct LaneBits<f32x8> {
  using type = u32x8;
};

/// tanh for float, from expm1: with m = expm1(-2|x|) (so -1 < m <= 0),
/// tanh|x| = -m / (2 + m), and the sign of x put back. expm1(y) = 2^k (1 + p) - 1 with
/// p = expm1(r) by its Taylor series to r^7, and the last step done in one fma so small |x|
/// (k = 0, m = p) keeps full relative accuracy: no branch on |x|, no cancellation, within 2 ulp
/// of std::tanh (tests/ops/fast_math_test.cpp). -2|x| is clamped at -20, past which
/// 1 - e^-2|x| rounds to 1; NaN stays NaN. V is float or f32x8 (lane by lane, the same values).
///
/// The loop over a step's values is bound by the length of this chain of dependent operations,
/// not by their count, so it is kept short (~8% of a training step of seq2seq, measured within
/// one process against the longer form):
/// - r = y - k ln2 with ln2 in one float: the clamp keeps k <= 29, so the error of the constant
///   (2e-9 k) stays below 0.1 ulp of the result, where exp (k up to 125) needs ln2 in two parts;
/// - the polynomial of r by Estrin's scheme (pairs, then powers of r^2) rather than Horner's.
template <class V>
inline V tanh_lanes(V x) {
  using U = typename LaneBits<V>::type;
  constexpr std::uint32_t kSign = 0x80000000u;
  const U ux = std::bit_cast<U>(x);
  V y = -2.0f * std::bit_cast<V>(ux & ~kSign);  // -2|x|
  y = y < -20.0f ? V{} - 20.0f : y;  // V{} - 20: -20 in every lane
  constexpr float kLog2e = 1.44269504088896341f, kLn2 = 0.693147180559945309f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const V shifted = y * kLog2e + kRound;
  const V k = shifted - kRound;
  const U bits = std::bit_cast<U>(shifted) + (127u - std::bit_cast<std::uint32_t>(kRound));
  const V scale = std::bit_cast<V>(bits << 23);  // 2^k
  const V r = y - k * kLn2;
  const V r2 = r * r;
  const V q01 = 0.5f + r * (1.0f / 6.0f);
  const V q23 = 1.0f / 24.0f + r * (1.0f / 120.0f);
  const V q45 = 1.0f / 720.0f + r * (1.0f / 5040.0f);
  const V q = q01 + r2 * (q23 + r2 * q45);
  const V p = q * r2 + r;                        // expm1(r)
  const V minus_m = (1.0f - scale) - scale * p;  // -expm1(y) >= 0
  const V t = minus_m / (2.0f - minus_m);
  return std::bit_cast<V>(std::bit_cast<U>(t) | (ux & kSign));
}

inline float tanh_f32(float x) { return tanh_lanes(x); }

/// sigmoid for float: with e = exp(-|x|), 1 / (1 + e) for x >= 0 and e / (1 + e) below, so
/// neither side overflows or cancels.
inline float sigmoid_f32(float x) {
  const float e = exp_nonpositive(-std::fabs(x));
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}
}  // namespace detail

/// y = tanh(x) (x and y may alias).
inline void tanh_forward(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = detail::tanh_f32(x[i]);
}
inline void tanh_forward(const double* x, double* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

/// y = tanh(x) for a dense block of `rows` x `cols` (y may alias x), and the same values into rows
/// `dst_stride` apart at dst (spread_rows): a recurrent step's output and its row of the
/// sequence in one pass, whose stores into the sequence overlap with tanh's arithmetic.
inline void tanh_forward_spread(const float* x, float* y, float* dst, std::int64_t dst_stride, std::int64_t rows,
                                std::int64_t cols) {
  map_spread_rows(x, y, dst, dst_stride, rows, cols, [](auto v) { return detail::tanh_lanes(v); });
}
inline void tanh_forward_spread(const double* x, double* y, double* dst, std::int64_t dst_stride,
                                std::int64_t rows, std::int64_t cols) {
  tanh_forward(x, y, rows * cols);
  spread_rows(y, dst, dst_stride, rows, cols);
}

/// dx += dy * (1 - y^2), from tanh's output y.
template <class T>
void tanh_backward(const T* y, const T* dy, T* dx, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] += dy[i] * (T(1) - y[i] * y[i]);
}

/// g *= 1 - y^2: a gradient turned into tanh's input gradient in place, from tanh's output y.
template <class T>
void tanh_grad_inplace(const T* y, T* g, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) g[i] *= T(1) - y[i] * y[i];
}

/// y = 1 / (1 + exp(-x)), stable for large |x| (x and y may alias).
inline void sigmoid_forward(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = detail::sigmoid_f32(x[i]);
}
inline void sigmoid_forward(const double* x, double* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (x[i] >= 0) {
      y[i] = 1.0 / (1.0 + std::exp(-x[i]));
    } else {
      const double e = std::exp(x[i]);
      y[i] = e / (1.0 + e);
    }
  }
}

/// dx += dy * y * (1 - y), from sigmoid's output y.
template <class T>
void sigmoid_backward(const T* y, const T* dy, T* dx, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] += dy[i] * y[i] * (T(1) - y[i]);
}

/// g *= y (1 - y): the same for sigmoid.
template <class T>
void sigmoid_grad_inplace(const T* y, T* g, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) g[i] *= y[i] * (T(1) - y[i]);
}

}  // namespace tg::kernels

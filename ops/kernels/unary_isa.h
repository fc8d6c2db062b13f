#pragma once
/// \file
/// One instruction set's copy of the kernels of unary.h (compiled once per path, see
/// ops/kernels/README.md).
///
/// Elementwise loops over contiguous buffers (no tensors, no tape). The compiler vectorises them.
/// float32 tanh, sigmoid and exp use branch-free approximations accurate to a few ulp (tested
/// against std:: in tests/ops/fast_math_test.cpp); float64 keeps the C library's functions, so
/// gradient checks run on exact math.

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <tapegrad/ops/kernels/rows_isa.h>
#include <tapegrad/ops/kernels/isa_ns.h>

namespace tg::kernels::TAPEGRAD_KERNEL_NS {

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
  constexpr float kRound = 12582912.0f;       // 1.5 * 2^23: adding it rounds to an integer
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
using u32x16 = std::uint32_t __attribute__((vector_size(64)));

template <class V>
struct LaneBits {
  using type = std::uint32_t;
};
template <>
struct LaneBits<f32x8> {
  using type = u32x8;
};
template <>
struct LaneBits<f32x16> {
  using type = u32x16;
};

/// min(c, x) that keeps a NaN x (vminps returns its second operand when either is NaN).
inline float min_keep_nan(float c, float x) { return c < x ? c : x; }
#if defined(__AVX2__)
inline f32x8 min_keep_nan(float c, f32x8 x) {  // gcc writes the vector form as compare and blend
  return reinterpret_cast<f32x8>(_mm256_min_ps(_mm256_set1_ps(c), reinterpret_cast<__m256>(x)));
}
#endif
#if defined(__AVX512F__)
inline f32x16 min_keep_nan(float c, f32x16 x) {  // zero-masked under a full mask: see gemm.cpp's Simd
  return reinterpret_cast<f32x16>(_mm512_maskz_min_ps(0xffff, _mm512_set1_ps(c), reinterpret_cast<__m512>(x)));
}
#endif

/// max(c, x) that keeps a NaN x, as `x < c ? c : x` does (vmaxps returns its second operand when
/// either is NaN).
inline float max_keep_nan(float c, float x) { return x < c ? c : x; }
#if defined(__AVX2__)
inline f32x8 max_keep_nan(float c, f32x8 x) {
  return reinterpret_cast<f32x8>(_mm256_max_ps(_mm256_set1_ps(c), reinterpret_cast<__m256>(x)));
}
#endif
#if defined(__AVX512F__)
inline f32x16 max_keep_nan(float c, f32x16 x) {  // zero-masked under a full mask: see gemm.cpp's Simd
  return reinterpret_cast<f32x16>(_mm512_maskz_max_ps(0xffff, _mm512_set1_ps(c), reinterpret_cast<__m512>(x)));
}
#endif

/// tanh for float, from expm1: with m = expm1(-2|x|) (so -1 < m <= 0),
/// tanh|x| = -m / (2 + m), and the sign of x put back. expm1(y) = 2^k (1 + p) - 1 with
/// p = expm1(r) by its Taylor series to r^7, and the last step done in one fma so small |x|
/// (k = 0, m = p) keeps full relative accuracy: no branch on |x|, no cancellation, within 2 ulp
/// of std::tanh (tests/ops/fast_math_test.cpp). |x| is clamped at 10, past which
/// 1 - e^-2|x| rounds to 1; NaN stays NaN. V is float, f32x8 or f32x16 (lane by lane, the same
/// values).
///
/// The loop over a step's values is bound by the length of this chain of dependent operations
/// and by the FMA units it shares with nothing else, so both are kept short (figures in
/// docs/performance.md, "Fast math"):
/// - r = y - k ln2 with ln2 in one float: the clamp keeps k <= 29, so the error of the constant
///   (2e-9 k) stays below 0.1 ulp of the result, where exp (k up to 125) needs ln2 in two parts;
/// - the polynomial of r by Estrin's scheme (pairs, then powers of r^2) rather than Horner's;
/// - the work is done on s = -r/2 = |x| + k ln2/2, with every constant scaled by the power of two
///   that turns each step into the step on r times a power of two. Scaling by a power of two is
///   exact, so the result is bit for bit the one computed on r, without forming -2|x| first
///   and with the clamp a single min.
template <class V>
inline V tanh_lanes(V x) {
  using U = typename LaneBits<V>::type;
  constexpr std::uint32_t kSign = 0x80000000u;
  const U ux = std::bit_cast<U>(x);
  const V ax = min_keep_nan(10.0f, std::bit_cast<V>(ux & ~kSign));  // |x|, at most 10
  constexpr float kLog2e = 1.44269504088896341f, kLn2 = 0.693147180559945309f;
  constexpr float kRound = 12582912.0f;              // 1.5 * 2^23: adding it rounds to an integer
  const V shifted = ax * (-2.0f * kLog2e) + kRound;  // k = round(-2|x| log2e) in the low bits
  const V k = shifted - kRound;
  const U bits = std::bit_cast<U>(shifted) + (128u - std::bit_cast<std::uint32_t>(kRound));
  const V scale2 = std::bit_cast<V>(bits << 23);  // 2^(k+1)
  const V s = k * (0.5f * kLn2) + ax;             // -r/2, r = -2|x| - k ln2
  const V s2 = s * s;                             // r^2 / 4
  // expm1(r) = r + r^2 q(r), q = q01 + r^2 (q23 + r^2 q45), each qij = ci + r cj, here on s:
  constexpr float c1 = 1.0f / 6.0f, c2 = 1.0f / 24.0f, c3 = 1.0f / 120.0f, c4 = 1.0f / 720.0f, c5 = 1.0f / 5040.0f;
  const V qa = -1.0f + s * (4.0f * c1);                        // -2 q01
  const V qb = -8.0f * c2 + s * (16.0f * c3);                  // -8 q23
  const V qc = -32.0f * c4 + s * (64.0f * c5);                 // -32 q45
  const V qn = qa + s2 * (qb + s2 * qc);                       // -2 q
  const V half_p = qn * s2 + s;                                // -expm1(r) / 2
  const V minus_m = (1.0f - 0.5f * scale2) + scale2 * half_p;  // -expm1(-2|x|) >= 0
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

/// sigmoid_f32 on V = float, f32x8 or f32x16, lane by lane: the same operations in the same
/// order (exp_nonpositive and reduce_exp written out on lanes), so every lane is bit for bit
/// sigmoid_f32 of its input, NaN included (tests/ops/fast_math_test.cpp). -|x| is x with its
/// sign bit set, which is what -std::fabs(x) gives.
template <class V>
inline V sigmoid_lanes(V x) {
  using U = typename LaneBits<V>::type;
  constexpr std::uint32_t kSign = 0x80000000u;
  const V y = max_keep_nan(-87.0f, std::bit_cast<V>(std::bit_cast<U>(x) | kSign));  // -|x|, at least -87
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723212e-6f;
  constexpr float kRound = 12582912.0f;
  const V shifted = y * kLog2e + kRound;
  const V k = shifted - kRound;
  const U bits = std::bit_cast<U>(shifted) + (127u - std::bit_cast<std::uint32_t>(kRound));
  const V r = (y - k * kLn2Hi) - k * kLn2Lo;
  const V scale = std::bit_cast<V>(bits << 23);
  V p = (1.0f / 5040.0f) * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const V e = p * scale;
  const V s = 1.0f / (1.0f + e);
  const V out = x >= 0.0f ? s : e * s;
  // A NaN comes out of sigmoid_f32 as |x| made quiet: GCC folds its -|x| into the FMAs (or the
  // product) that use it, so the NaN that flows is |x|'s. Here -|x| is formed and flows, made
  // quiet, to the end. Every other lane is at least +0, so clearing the sign bit puts the NaN
  // lanes right and changes no other (one instruction where a compare, a blend and two bit
  // operations were, three times per LSTM cell).
  return std::bit_cast<V>(std::bit_cast<U>(out) & ~kSign);
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
/// sequence in one pass, whose stores into the sequence overlap with tanh's arithmetic. float
/// uses the fast tanh (on vectors of eight where AVX2 is on, sixteen where AVX-512 is), double the C library's.
template <class T>
inline void tanh_forward_spread(const T* x, T* y, T* dst, std::int64_t dst_stride, std::int64_t rows,
                                std::int64_t cols) {
  map_spread_rows(x, y, dst, dst_stride, rows, cols, [](auto v) {
    if constexpr (std::is_same_v<decltype(v), double>)
      return std::tanh(v);
    else
      return detail::tanh_lanes(v);
  });
}

/// Rows of dst = dy * (1 - y^2) over the dense block dy [rows, cols] and the rows of y, y's and
/// dst's rows `stride` apart: tanh's input gradient from its output, a recurrent step's dz_t from
/// h_t in the sequence buffer into the same rows of a [B,T,H] buffer (map2_rows).
template <class T>
inline void tanh_grad_rows(const T* dy, const T* y, T* dst, std::int64_t stride, std::int64_t rows, std::int64_t cols) {
  map2_rows(dy, y, dst, stride, rows, cols, [](auto g, auto v) { return g * (T(1) - v * v); });
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

}  // namespace tg::kernels::TAPEGRAD_KERNEL_NS

// One instruction set's copy of the GEMM of gemm.h (compiled once per path, see
// ops/kernels/README.md).
#include <tapegrad/ops/kernels/gemm_isa.h>
#include <tapegrad/ops/kernels/isa_ns.h>
#include <tapegrad/ops/kernels/rows_isa.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#include <immintrin.h>
#define TG_GEMM_AVX512 1
#define TG_GEMM_AVX2 0
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TG_GEMM_AVX512 0
#define TG_GEMM_AVX2 1
#else
#define TG_GEMM_AVX512 0
#define TG_GEMM_AVX2 0
#endif

// Design (BLIS-style, see docs/performance.md "GEMM"):
// - A register-blocked micro-kernel computes an MR x (NV * lanes) tile of C with MR * NV vector
//   accumulators, broadcasting one element of op(A) and loading NV vectors of op(B) per k.
//   Main tiles are 6x16 and 4x24 with AVX2 (float; 6x8 and 4x12 for double), 8x32 and 8x48 with
//   AVX-512 (8x16 and 8x24), whose 32 registers hold 8 rows of accumulators; the driver picks the
//   one that covers the shape with the fewest wasted lanes, and smaller instances of the same template
//   handle the row and column edges (the last column vector is partial). A last vector at most
//   half full is shared by two rows, one in each half (N = 20 floats with AVX2: 10 FMAs per k for
//   a 4 x 3 tile instead of 12), and with AVX-512 one at most a quarter full by four rows. When C
//   is dense, two such rows are stored together as whole vectors, which is how the next loop
//   reads them.
// - op(B) is packed into zero-padded panels NR wide whenever more than one row panel will read
//   it (or it is transposed): aligned loads, no masks, no cache-line splits. op(A) is read in
//   place, row-wise (A) or column-wise (A^T), and packed only when many column panels reuse it.
//   Packed panels live in thread-local buffers that only grow: a warm call never allocates.
// - Large shapes are blocked NC x KC x MC so that a KC x NR panel of B stays in L1 and an
//   MC x KC block of A in L2.
// - n = 1 (a matrix times a vector) uses dot products along k (with the bias added as each row
//   is finished), also for m = 1 with A^T one contiguous column; otherwise a one-row product for A^T.

namespace tg::kernels::TAPEGRAD_KERNEL_NS {

namespace {

using Index = std::int64_t;

template <class T>
struct Simd;

#if TG_GEMM_AVX512
// Sixteen floats (eight doubles) a register, and 32 registers. Masks are mask registers: a
// masked load or store costs what a whole one does, and never touches the lanes left out.
//
// Shuffles and broadcasts are written in their zero-masking form under a full mask, which
// compiles to the plain instruction: GCC 12's plain forms start from a vector initialised from
// itself (_mm512_undefined_ps), which -Wmaybe-uninitialized reports wherever they are inlined.
constexpr __mmask16 kAll16 = 0xffff;
constexpr __mmask8 kAll8 = 0xff;

// The second stage of a transpose: the 4 x 4 transpose of the 128-bit lanes of b0..b3, lane c of
// the result to out[c * stride]. S::shuffle_lanes<Imm>(a, b) takes lanes Imm[1:0] and Imm[3:2]
// of a, then Imm[5:4] and Imm[7:6] of b.
template <class S, class Reg>
inline void transpose_lanes(Reg b0, Reg b1, Reg b2, Reg b3, Reg* out, int stride) {
  const Reg e0 = S::template shuffle_lanes<0x44>(b0, b1), e1 = S::template shuffle_lanes<0xee>(b0, b1);
  const Reg e2 = S::template shuffle_lanes<0x44>(b2, b3), e3 = S::template shuffle_lanes<0xee>(b2, b3);
  out[0] = S::template shuffle_lanes<0x88>(e0, e2);
  out[stride] = S::template shuffle_lanes<0xdd>(e0, e2);
  out[2 * stride] = S::template shuffle_lanes<0x88>(e1, e3);
  out[3 * stride] = S::template shuffle_lanes<0xdd>(e1, e3);
}

// The moves of 128-bit lanes both element types share, from S::shuffle_lanes (R is S::Reg): see
// the AVX2 types below for what each one does.
template <class S>
struct LaneMoves {
  template <class R>
  static R dup_low(R x) {
    return S::template shuffle_lanes<0x44>(x, x);
  }
  template <class R>
  static R high_to_low(R x) {
    return S::template shuffle_lanes<0xee>(x, x);
  }
  template <int I, class R>
  static R quarter_to_low(R x) {
    return S::template shuffle_lanes<I>(x, x);
  }
  template <int Imm, class R>
  static R join_halves(R a, R b) {
    static_assert(Imm == 0x20 || Imm == 0x21);
    return S::template shuffle_lanes < Imm == 0x20 ? 0x44 : 0x4e > (a, b);
  }
};
template <>
struct Simd<float> : LaneMoves<Simd<float>> {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float x) { return _mm512_set1_ps(x); }
  static Reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, Reg x) { _mm512_storeu_ps(p, x); }
  static void store_first(float* p, Reg x, int lanes) { _mm512_mask_storeu_ps(p, mask(lanes), x); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static float hsum(Reg x) {
    const __m256 h =
        _mm256_add_ps(_mm512_maskz_extractf32x8_ps(kAll8, x, 0), _mm512_maskz_extractf32x8_ps(kAll8, x, 1));
    __m128 v = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
  }
  // r[i][j] <- r[j][i] for a 16 x 16 block: 4 x 4 blocks within each 128-bit lane, then the
  // 4 x 4 transpose of the lanes.
  static void transpose(Reg (&r)[kLanes]) {
    Reg b[4][4];  // b[g][q], lane c: rows 4g..4g+3 of column 4c+q
    for (int g = 0; g < 4; ++g) {
      const Reg* rg = r + 4 * g;
      const Reg a0 = _mm512_maskz_unpacklo_ps(kAll16, rg[0], rg[1]);
      const Reg a1 = _mm512_maskz_unpackhi_ps(kAll16, rg[0], rg[1]);
      const Reg a2 = _mm512_maskz_unpacklo_ps(kAll16, rg[2], rg[3]);
      const Reg a3 = _mm512_maskz_unpackhi_ps(kAll16, rg[2], rg[3]);
      b[g][0] = _mm512_maskz_shuffle_ps(kAll16, a0, a2, 0x44);
      b[g][1] = _mm512_maskz_shuffle_ps(kAll16, a0, a2, 0xee);
      b[g][2] = _mm512_maskz_shuffle_ps(kAll16, a1, a3, 0x44);
      b[g][3] = _mm512_maskz_shuffle_ps(kAll16, a1, a3, 0xee);
    }
    for (int q = 0; q < 4; ++q) transpose_lanes<Simd>(b[0][q], b[1][q], b[2][q], b[3][q], r + q, 4);
  }
  template <int Imm>
  static Reg shuffle_lanes(Reg a, Reg b) {
    return _mm512_maskz_shuffle_f32x4(kAll16, a, b, Imm);
  }
  static void pin(Reg& x) { __asm__("" : "+v"(x)); }
  static Mask mask(int lanes) { return static_cast<Mask>((1u << lanes) - 1u); }
  static Reg broadcast_half(const float* p) { return _mm512_maskz_broadcast_f32x8(kAll16, _mm256_loadu_ps(p)); }
  // The four values at p in every quarter (16 bytes, read exactly): N = 20 is 16 + 4.
  static constexpr int kPairLanes = 4;
  static Reg broadcast_pair(const float* p) { return _mm512_maskz_broadcast_f32x4(kAll16, _mm_loadu_ps(p)); }
  static Reg blend_high(Reg lo, Reg hi) { return _mm512_mask_blend_ps(0xff00, lo, hi); }
  // Quarters (128 bits): four rows share a vector, one quarter each (see tile_kernel's kShare).
  static constexpr bool kQuarters = true;
  static Reg broadcast_quarter(const float* p) { return broadcast_pair(p); }
  static Reg blend_quarters(Reg q0, Reg q1, Reg q2, Reg q3) {
    return _mm512_mask_blend_ps(0xf000, _mm512_mask_blend_ps(0x0f00, _mm512_mask_blend_ps(0x00f0, q0, q1), q2), q3);
  }
  // The four values at p, each spread over a quarter: lane 4q + i holds p[q].
  static Reg spread_quarter(const float* p) {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_maskz_permutexvar_ps(kAll16, idx, broadcast_pair(p));
  }
  // The first n < 4 values at p in every quarter, the rest zero (nothing past p + n is read).
  static Reg broadcast_quarter_first(const float* p, int n) {
    return _mm512_maskz_broadcast_f32x4(kAll16, _mm_maskz_loadu_ps(static_cast<__mmask8>((1u << n) - 1u), p));
  }
  // Lanes 0..3 = the sums of each quarter's four lanes.
  static Reg sum_quarters(Reg x) {
    x = _mm512_add_ps(x, _mm512_maskz_permute_ps(kAll16, x, 0xb1));
    x = _mm512_add_ps(x, _mm512_maskz_permute_ps(kAll16, x, 0x4e));
    const __m512i idx = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    return _mm512_maskz_permutexvar_ps(kAll16, idx, x);
  }
  // Lane 4q + i to lane 4i + q: the 4 x 4 transpose of the quarters' lanes.
  static Reg transpose_quarters(Reg x) {
    const __m512i idx = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    return _mm512_maskz_permutexvar_ps(kAll16, idx, x);
  }
};

template <>
struct Simd<double> : LaneMoves<Simd<double>> {
  using Reg = __m512d;
  using Mask = __mmask8;
  static constexpr int kLanes = 8;
  static Reg zero() { return _mm512_setzero_pd(); }
  static Reg set1(double x) { return _mm512_set1_pd(x); }
  static Reg broadcast(const double* p) { return _mm512_set1_pd(*p); }
  static Reg load(const double* p) { return _mm512_loadu_pd(p); }
  static Reg load(const double* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, Reg x) { _mm512_storeu_pd(p, x); }
  static void store_first(double* p, Reg x, int lanes) { _mm512_mask_storeu_pd(p, mask(lanes), x); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_pd(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_pd(a, b); }
  static Reg add(Reg a, Reg b) { return _mm512_add_pd(a, b); }
  static double hsum(Reg x) {
    const __m256d h =
        _mm256_add_pd(_mm512_maskz_extractf64x4_pd(kAll8, x, 0), _mm512_maskz_extractf64x4_pd(kAll8, x, 1));
    const __m128d v = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
  }
  // An 8 x 8 block: 2 x 2 blocks within each 128-bit lane, then the lanes.
  static void transpose(Reg (&r)[kLanes]) {
    Reg b[4][2];  // b[g][q], lane c: rows 2g, 2g+1 of column 2c+q
    for (int g = 0; g < 4; ++g) {
      b[g][0] = _mm512_maskz_unpacklo_pd(kAll8, r[2 * g], r[2 * g + 1]);
      b[g][1] = _mm512_maskz_unpackhi_pd(kAll8, r[2 * g], r[2 * g + 1]);
    }
    for (int q = 0; q < 2; ++q) transpose_lanes<Simd>(b[0][q], b[1][q], b[2][q], b[3][q], r + q, 2);
  }
  template <int Imm>
  static Reg shuffle_lanes(Reg a, Reg b) {
    return _mm512_maskz_shuffle_f64x2(kAll8, a, b, Imm);
  }
  static void pin(Reg& x) { __asm__("" : "+v"(x)); }
  static Mask mask(int lanes) { return static_cast<Mask>((1u << lanes) - 1u); }
  static Reg broadcast_half(const double* p) { return _mm512_maskz_broadcast_f64x4(kAll8, _mm256_loadu_pd(p)); }
  static constexpr int kPairLanes = 2;
  static Reg broadcast_pair(const double* p) { return _mm512_maskz_broadcast_f64x2(kAll8, _mm_loadu_pd(p)); }
  static Reg blend_high(Reg lo, Reg hi) { return _mm512_mask_blend_pd(0xf0, lo, hi); }
  static constexpr bool kQuarters = true;
  static Reg broadcast_quarter(const double* p) { return broadcast_pair(p); }
  static Reg blend_quarters(Reg q0, Reg q1, Reg q2, Reg q3) {
    return _mm512_mask_blend_pd(0xc0, _mm512_mask_blend_pd(0x30, _mm512_mask_blend_pd(0x0c, q0, q1), q2), q3);
  }
};
#elif TG_GEMM_AVX2
alignas(32) constexpr std::int32_t kMask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
alignas(32) constexpr std::int64_t kMask64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};

template <>
struct Simd<float> {
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float x) { return _mm256_set1_ps(x); }
  static Reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, Reg x) { _mm256_storeu_ps(p, x); }
  static void store_first(float* p, Reg x, int lanes) { detail::store_first_lanes(p, x, lanes); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static float hsum(Reg x) {
    __m128 v = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
  }
  // r[i][j] <- r[j][i] for an 8 x 8 block.
  static void transpose(Reg (&r)[kLanes]) {
    const Reg t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const Reg t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const Reg t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const Reg t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const Reg u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    const Reg u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    const Reg u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    const Reg u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
  }
  // Keeps a loaded value in a register: without it gcc re-reads B from memory inside every FMA
  // when the accumulators use up the registers, and the kernel becomes load-bound.
  static void pin(Reg& x) { __asm__("" : "+x"(x)); }
  static Mask mask(int lanes) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask32 + 8 - lanes)); }
  // For tiles whose last vector holds at most half a register of columns (see tile_kernel):
  // the first half of p in both halves; the first half of x in both halves; lo's first half
  // with hi's second; x's second half moved to the first.
  static Reg broadcast_half(const float* p) { return _mm256_broadcast_ps(reinterpret_cast<const __m128*>(p)); }
  // The two values at p in every quarter (8 bytes, read exactly).
  static constexpr int kPairLanes = 2;
  static Reg broadcast_pair(const float* p) {
    return _mm256_castpd_ps(_mm256_broadcast_sd(reinterpret_cast<const double*>(p)));
  }
  static constexpr bool kQuarters = false;  // a quarter is 64 bits: no lane moves for it here
  static Reg dup_low(Reg x) { return _mm256_permute2f128_ps(x, x, 0x00); }
  static Reg blend_high(Reg lo, Reg hi) { return _mm256_blend_ps(lo, hi, 0xf0); }
  static Reg high_to_low(Reg x) { return _mm256_permute2f128_ps(x, x, 0x01); }
  // Halves of a and b: 0x20 a's first and b's first, 0x21 a's second and b's first.
  template <int Imm>
  static Reg join_halves(Reg a, Reg b) {
    return _mm256_permute2f128_ps(a, b, Imm);
  }
};

template <>
struct Simd<double> {
  using Reg = __m256d;
  using Mask = __m256i;
  static constexpr int kLanes = 4;
  static Reg zero() { return _mm256_setzero_pd(); }
  static Reg set1(double x) { return _mm256_set1_pd(x); }
  static Reg broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static Reg load(const double* p) { return _mm256_loadu_pd(p); }
  static Reg load(const double* p, Mask m) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, Reg x) { _mm256_storeu_pd(p, x); }
  static void store_first(double* p, Reg x, int lanes) { detail::store_first_lanes(p, x, lanes); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_pd(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_pd(a, b); }
  static Reg add(Reg a, Reg b) { return _mm256_add_pd(a, b); }
  static double hsum(Reg x) {
    __m128d v = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
  }
  static void transpose(Reg (&r)[kLanes]) {
    const Reg t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const Reg t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
  }
  static void pin(Reg& x) { __asm__("" : "+x"(x)); }
  static Mask mask(int lanes) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask64 + 4 - lanes)); }
  static Reg broadcast_half(const double* p) { return _mm256_broadcast_pd(reinterpret_cast<const __m128d*>(p)); }
  static constexpr int kPairLanes = 0;  // a half is already two doubles
  static Reg broadcast_pair(const double* p) { return broadcast_half(p); }
  static constexpr bool kQuarters = false;
  static Reg dup_low(Reg x) { return _mm256_permute2f128_pd(x, x, 0x00); }
  static Reg blend_high(Reg lo, Reg hi) { return _mm256_blend_pd(lo, hi, 0xc); }
  static Reg high_to_low(Reg x) { return _mm256_permute2f128_pd(x, x, 0x01); }
  template <int Imm>
  static Reg join_halves(Reg a, Reg b) {
    return _mm256_permute2f128_pd(a, b, Imm);
  }
};
#else
// Portable fallback: one lane, the same blocking; the compiler vectorises what it can.
template <class T>
struct Simd {
  using Reg = T;
  using Mask = int;
  static constexpr int kLanes = 1;
  static Reg zero() { return T(0); }
  static Reg set1(T x) { return x; }
  static Reg broadcast(const T* p) { return *p; }
  static Reg load(const T* p) { return *p; }
  static Reg load(const T* p, Mask) { return *p; }
  static void store(T* p, Reg x) { *p = x; }
  static void store_first(T* p, Reg x, int) { *p = x; }
  static Reg fma(Reg a, Reg b, Reg c) { return a * b + c; }
  static Reg mul(Reg a, Reg b) { return a * b; }
  static Reg add(Reg a, Reg b) { return a + b; }
  static T hsum(Reg x) { return x; }
  static void transpose(Reg (&)[kLanes]) {}
  static void pin(Reg&) {}
  static Mask mask(int) { return 0; }
  // One lane has no halves: the shared tiles are never chosen (see tail_share).
  static Reg broadcast_half(const T* p) { return *p; }
  static constexpr int kPairLanes = 0;
  static Reg broadcast_pair(const T* p) { return *p; }
  static constexpr bool kQuarters = false;
  static Reg dup_low(Reg x) { return x; }
  static Reg blend_high(Reg lo, Reg) { return lo; }
  static Reg high_to_low(Reg x) { return x; }
  template <int Imm>
  static Reg join_halves(Reg a, Reg) {
    return a;
  }
};
#endif

#if TG_GEMM_AVX512
constexpr int kMaxMr = 8;  // 32 registers hold 8 x 3 accumulators beside the vectors of B
#else
constexpr int kMaxMr = 6;
#endif
constexpr int kMaxNv = 3;

// C[0:MR, 0:NV*lanes] = alpha * acc (+ bias) + beta * C, the last vector holding `last_lanes`
// columns; row r of the bias, when given, starts at bias + r * ld_bias (ld_bias = 0: the same
// row for every row of C). beta = 0 never reads C.
template <class T, int MR, int NV>
[[gnu::always_inline]] inline void write_tile(typename Simd<T>::Reg (&acc)[MR][NV], T* c, Index ldc, T alpha, T beta,
                                              int last_lanes, const T* bias, Index ld_bias) {
  using S = Simd<T>;
  using Reg = typename S::Reg;
  constexpr int L = S::kLanes;
  if (alpha != T(1)) {  // alpha = 1, the common case, skips a multiply per accumulator
    const Reg va = S::set1(alpha);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = S::mul(acc[r][v], va);
  }
  if (bias != nullptr) {
    const auto mask = S::mask(last_lanes);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const T* bp = bias + r * ld_bias + v * L;
        acc[r][v] = S::add(acc[r][v], v == NV - 1 ? S::load(bp, mask) : S::load(bp));
      }
  }
  if (beta != T(0)) {
    // beta = 1 gives old + x exactly: the fma rounds once.
    const Reg vb = S::set1(beta);
    const auto mask = S::mask(last_lanes);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const T* cp = c + r * ldc + v * L;
        const Reg old = v == NV - 1 ? S::load(cp, mask) : S::load(cp);
        acc[r][v] = S::fma(old, vb, acc[r][v]);
      }
  }
  if constexpr (MR % 2 == 0 && L >= 2) {
    // Rows of half a vector past whole ones, one after the other in memory (C dense, N = 20
    // floats): two rows are whole vectors, stored as such. A loop that reads C next by whole
    // vectors (tanh over a step's output) then finds each value in one store and takes it
    // from the store queue, where a load across two row stores would wait for both to reach
    // the cache.
    constexpr int NF = NV - 1;
    if (2 * last_lanes == L && ldc == NF * L + last_lanes) {
#pragma GCC unroll 4
      for (int r = 0; r < MR; r += 2) {
        T* out = c + r * ldc;
        const auto& a = acc[r];
        const auto& b = acc[r + 1];
        if constexpr (NF == 0) {
          S::store(out, S::template join_halves<0x20>(a[0], b[0]));
        } else {
#pragma GCC unroll 4
          for (int v = 0; v < NF; ++v) S::store(out + v * L, a[v]);
          S::store(out + NF * L, S::template join_halves<0x20>(a[NF], b[0]));
#pragma GCC unroll 4
          for (int v = 0; v + 1 < NF; ++v)
            S::store(out + (NF + 1 + v) * L, S::template join_halves<0x21>(b[v], b[v + 1]));
          S::store(out + 2 * NF * L, S::template join_halves<0x21>(b[NF - 1], b[NF]));
        }
      }
      return;
    }
  }
  if (last_lanes == L) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) S::store(c + r * ldc + v * L, acc[r][v]);
  } else {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < NV - 1; ++v) S::store(c + r * ldc + v * L, acc[r][v]);
      S::store_first(c + r * ldc + (NV - 1) * L, acc[r][NV - 1], last_lanes);
    }
  }
}

// How a tile reads the last vector of each row of opB: whole (packed and zero-padded, or all its
// lanes valid, or exactly half a register for a half-vector tile), masked (B read in place), or
// as two values broadcast to every quarter (a half-vector tile over B read in place with two
// columns left, N = 10 floats: one 8-byte load, no mask register, no lane move).
enum BTail : int { kWholeTail, kMaskedTail, kPairTail };

// C[0:MR, 0:NV*lanes] = alpha * sum_p opA[r, p] * opB[p, :] + beta * C, the last vector holding
// `last_lanes` valid columns. opA[r, p] is a[r * a_stride + p] (kAColumns false: rows of A) or
// a[p * a_stride + r] (kAColumns true: columns of A^T, or a packed panel with a_stride = MR).
// opB[p, :] starts at b + p * ldb; kTail says how its last vector is read (see BTail).
//
// kShare = 2: the last vector holds at most half a register of columns (N = 20 floats is 8 + 8 +
// 4 with AVX2), and MR is even. Rows r and r + 1 then share one accumulator for it, row r in its
// first half and row r + 1 in its second: opB's half row is loaded into both halves, and the two
// rows' broadcasts are blended. A 4 x 3 tile so issues 10 FMAs per k instead of 12, of which 2
// were computing padding.
// kShare = 4 (AVX-512): at most a quarter (N = 20 floats is 16 + 4), MR a multiple of 4; four
// rows share the accumulator, a quarter each. An 8 x 2 tile issues 10 FMAs per k instead of 12
// with halves (the blends cost nothing measurable: without them the FMAs took as long).
//
// kSplit: two sets of accumulators, for even and odd k, added at the end. A tile of few
// accumulator chains (the 1 x 3 row of a [1 x 1600] x [1600 x 20] weight gradient has 3)
// otherwise waits at every k for each chain's previous FMA; over a long K that is most of its
// time.
template <class T, int MR, int NV, bool kAColumns, int kTail, int kShare, bool kSplit>
[[gnu::always_inline]] inline void tile_kernel(Index k, const T* a, Index a_stride, const T* b, Index ldb, T* c,
                                               Index ldc, T alpha, T beta, int last_lanes, const T* bias,
                                               Index ld_bias) {
  using S = Simd<T>;
  using Reg = typename S::Reg;
  constexpr int L = S::kLanes;
  constexpr bool kShared = kShare > 1;
  constexpr int NF = kShared ? NV - 1 : NV;  // whole vectors per row
  constexpr int NP = MR / kShare;            // shared accumulators of the last vector
  constexpr int NS = kSplit ? 2 : 1;         // accumulator sets
  static_assert(MR % kShare == 0, "the shared last vector needs whole groups of rows");
  // Float's quarters over columns of opA (AVX-512): see the kShare == 4 step below.
  constexpr bool kSpreadQuarters = kShare == 4 && kAColumns && std::is_same_v<T, float>;
  Reg acc[NS][MR][NV];
  Reg pair[NS][NP];
#pragma GCC unroll 2
  for (int s = 0; s < NS; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[s][r][v] = S::zero();
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i) pair[s][i] = S::zero();
  }
  typename S::Mask bmask{};
  if constexpr (kTail == kMaskedTail) bmask = S::mask(last_lanes);
  const T* rows[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) rows[r] = a + r * a_stride;

  // One k into accumulator set s; b and (kAColumns) a point at row p of opB and column p of opA.
  auto step = [&](int s, Index p) __attribute__((always_inline)) {
    Reg bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NF; ++v) {
      bv[v] = (kTail == kMaskedTail && !kShared && v == NV - 1) ? S::load(b + v * L, bmask) : S::load(b + v * L);
      S::pin(bv[v]);
    }
    if constexpr (kShare == 4) {
      // Four rows share the last vector, a quarter each. Over columns of opA (kSpreadQuarters)
      // rows r..r+3 lie side by side: read as one quarter repeated, times B's quarter spread
      // (lane 4q + i: b[q]), lane 4q + i gathers a[r + i] b[q], transposed back after the loop;
      // one lane move a k for the tile, where blending the four rows' broadcasts takes three per
      // four rows (each on the ports the FMAs use with AVX-512).
      static_assert(kTail != kMaskedTail, "a quarter of B is read whole or exactly");
      if constexpr (kSpreadQuarters)
        bv[NV - 1] = S::spread_quarter(b + (NV - 1) * L);
      else
        bv[NV - 1] = S::broadcast_quarter(b + (NV - 1) * L);
      S::pin(bv[NV - 1]);
#pragma GCC unroll 2
      for (int r = 0; r < MR; r += 4) {
        Reg ar[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) ar[i] = S::broadcast(kAColumns ? a + r + i : rows[r + i] + p);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
          for (int v = 0; v < NF; ++v) acc[s][r + i][v] = S::fma(ar[i], bv[v], acc[s][r + i][v]);
        Reg quarters;
        if constexpr (kSpreadQuarters)
          quarters = S::broadcast_quarter(a + r);
        else
          quarters = S::blend_quarters(ar[0], ar[1], ar[2], ar[3]);
        pair[s][r / 4] = S::fma(quarters, bv[NV - 1], pair[s][r / 4]);
      }
    } else if constexpr (kShare == 2) {
      if constexpr (kTail == kWholeTail)
        bv[NV - 1] = S::broadcast_half(b + (NV - 1) * L);
      else if constexpr (kTail == kPairTail)
        bv[NV - 1] = S::broadcast_pair(b + (NV - 1) * L);
      else
        bv[NV - 1] = S::dup_low(S::load(b + (NV - 1) * L, bmask));
      S::pin(bv[NV - 1]);
#pragma GCC unroll 4
      for (int r = 0; r < MR; r += 2) {
        const Reg a0 = S::broadcast(kAColumns ? a + r : rows[r] + p);
        const Reg a1 = S::broadcast(kAColumns ? a + r + 1 : rows[r + 1] + p);
#pragma GCC unroll 4
        for (int v = 0; v < NF; ++v) {
          acc[s][r][v] = S::fma(a0, bv[v], acc[s][r][v]);
          acc[s][r + 1][v] = S::fma(a1, bv[v], acc[s][r + 1][v]);
        }
        pair[s][r / 2] = S::fma(S::blend_high(a0, a1), bv[NV - 1], pair[s][r / 2]);
      }
    } else {
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const Reg av = S::broadcast(kAColumns ? a + r : rows[r] + p);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[s][r][v] = S::fma(av, bv[v], acc[s][r][v]);
      }
    }
    b += ldb;
    if constexpr (kAColumns) a += a_stride;
  };
  Index p = 0;
  if constexpr (kSplit) {
    for (; p + 2 <= k; p += 2) {
      step(0, p);
      step(1, p + 1);
    }
  }
  // Unrolled by 4: faster on large shapes (512^3, the [256 x 6400] x [6400 x 256] weight
  // gradient of the large RNN), no change on small ones.
#pragma GCC unroll 4
  for (; p < k; ++p) step(0, p);
  if constexpr (kSplit) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[0][r][v] = S::add(acc[0][r][v], acc[1][r][v]);
#pragma GCC unroll 4
    for (int i = 0; i < NP; ++i) pair[0][i] = S::add(pair[0][i], pair[1][i]);
  }
  if constexpr (kShare == 4) {
#pragma GCC unroll 2
    for (int r = 0; r < MR; r += 4) {
      if constexpr (kSpreadQuarters) pair[0][r / 4] = S::transpose_quarters(pair[0][r / 4]);
      acc[0][r][NV - 1] = pair[0][r / 4];
      acc[0][r + 1][NV - 1] = S::template quarter_to_low<1>(pair[0][r / 4]);
      acc[0][r + 2][NV - 1] = S::template quarter_to_low<2>(pair[0][r / 4]);
      acc[0][r + 3][NV - 1] = S::template quarter_to_low<3>(pair[0][r / 4]);
    }
  } else if constexpr (kShare == 2) {
#pragma GCC unroll 4
    for (int r = 0; r < MR; r += 2) {
      acc[0][r][NV - 1] = pair[0][r / 2];
      acc[0][r + 1][NV - 1] = S::high_to_low(pair[0][r / 2]);
    }
  }
  write_tile<T, MR, NV>(acc[0], c, ldc, alpha, beta, last_lanes, bias, ld_bias);
}

#if TG_GEMM_AVX512
// Float rows of A (read in place, row-major) with N a quarter register past whole vectors
// (AVX-512; N = 20 is 16 + 4): the last vector by groups of four k instead of by rows. Row r's
// values a[r, p..p+3] are side by side, so one quarter load repeated times `bt[g]`, which holds
// b[p + q, j] in lane 4j + q (built once per micro_kernel call from B's last quarter), adds
// a[r, p+q] b[p+q, j] into lane 4j + q; the quarters' sums after the loop are row r's last
// values. One FMA per row and four k, where sharing the vector among four rows (tile_kernel's
// kShare = 4) blends four broadcasts a k, on the ports the FMAs use.
template <int MR, int NV>
[[gnu::always_inline]] inline void tile_kernel_k4(Index k, const float* a, Index a_stride, const float* b, Index ldb,
                                                  const float* bt, float* c, Index ldc, float alpha, float beta,
                                                  int last_lanes, const float* bias, Index ld_bias) {
  using S = Simd<float>;
  using Reg = S::Reg;
  constexpr int L = S::kLanes;
  constexpr int NF = NV - 1;  // whole vectors per row
  Reg acc[MR][NV];
  Reg tail[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NF; ++v) acc[r][v] = S::zero();
    tail[r] = S::zero();
  }
  const float* rows[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) rows[r] = a + r * a_stride;
  auto whole = [&](Index p) __attribute__((always_inline)) {
    Reg bv[NF > 0 ? NF : 1];
#pragma GCC unroll 4
    for (int v = 0; v < NF; ++v) {
      bv[v] = S::load(b + p * ldb + v * L);
      S::pin(bv[v]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const Reg av = S::broadcast(rows[r] + p);
#pragma GCC unroll 4
      for (int v = 0; v < NF; ++v) acc[r][v] = S::fma(av, bv[v], acc[r][v]);
    }
  };
  Index p = 0;
  for (; p + 4 <= k; p += 4) {
    const Reg bq = S::load(bt + p * 4);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) tail[r] = S::fma(S::broadcast_quarter(rows[r] + p), bq, tail[r]);
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) whole(p + q);
  }
  if (p < k) {  // the last k % 4: A's values past k not read, B's zero in bt
    const Reg bq = S::load(bt + p * 4);
    const int n = static_cast<int>(k - p);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) tail[r] = S::fma(S::broadcast_quarter_first(rows[r] + p, n), bq, tail[r]);
    for (; p < k; ++p) whole(p);
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][NV - 1] = S::sum_quarters(tail[r]);
  write_tile<float, MR, NV>(acc, c, ldc, alpha, beta, last_lanes, bias, ld_bias);
}

// Whether micro_kernel runs tile_kernel_k4 rather than tile_kernel.
template <class T, bool kAColumns, int kShare>
constexpr bool kByGroupsOfK = kShare == 4 && !kAColumns && std::is_same_v<T, float>;
#endif

// The K that tile_kernel_k4 runs over: at most the driver's KC block (and a plan's K), at least
// three groups. Below that, tile_kernel is as fast or faster (Xeon, alternated medians, 1600 x K
// x 20: K = 2, 6, 8 4.1, 5.9, 7.4 us against 5.0, 7.0, 7.5; 32 x 8 x 20 169 against 181 ns),
// above it slower (1600 x 12 x 20 10.1 against 9.4 us).
constexpr Index kMinGroupsK = 12, kMaxGroupsK = 256;
// Whether a K is one tile_kernel_k4 takes, in micro_kernel and for a plan's packed groups (only the
// AVX-512 copy of this file has them).
[[maybe_unused]] constexpr bool groups_pay(Index k) { return k >= kMinGroupsK && k <= kMaxGroupsK; }

// B's last quarter (four columns from bq, rows ldb apart) by groups of four k, as
// tile_kernel_k4 reads it: bt[4p + 4j + q] = b[p + q, j], zero past k (round_up(k, 4) * 4 values).
inline void quarter_by_groups(const float* bq, Index ldb, Index k, float* bt) {
  for (Index p = 0; p < k; p += 4)
    for (int q = 0; q < 4; ++q)
      for (int j = 0; j < 4; ++j) bt[p * 4 + 4 * j + q] = p + q < k ? bq[(p + q) * ldb + j] : 0.0f;
}

// `tiles` such tiles one under the other: tile i reads opA from a0 + i * a_tile and writes the
// rows of C from c0 + i * MR * ldc. One call per column panel rather than per tile: for a small
// product the call and its arguments cost about as much as a tile. `b_groups`, when not null, is
// B's last quarter by groups of four k (quarter_by_groups), made once when B was packed: the
// kernels that read it otherwise make it at every call.
template <class T, int MR, int NV, bool kAColumns, int kTail, int kShare, bool kSplit>
void micro_kernel(Index tiles, Index a_tile, Index k, const T* a0, Index a_stride, const T* b0, Index ldb,
                  [[maybe_unused]] const T* b_groups, T* c0, Index ldc, T alpha, T beta, int last_lanes, const T* bias,
                  Index ld_bias) {
#if TG_GEMM_AVX512
  if constexpr (kByGroupsOfK<T, kAColumns, kShare>) {
    if (groups_pay(k)) {
      alignas(64) float made[kMaxGroupsK * 4];  // left unwritten when b_groups is given
      const float* bt = b_groups;
      if (bt == nullptr) {
        quarter_by_groups(b0 + (NV - 1) * Simd<float>::kLanes, ldb, k, made);
        bt = made;
      }
      for (Index tile = 0; tile < tiles; ++tile)
        tile_kernel_k4<MR, NV>(k, a0 + tile * a_tile, a_stride, b0, ldb, bt, c0 + tile * MR * ldc, ldc, alpha, beta,
                               last_lanes, bias ? bias + tile * MR * ld_bias : nullptr, ld_bias);
      return;
    }
  }
#endif
  for (Index tile = 0; tile < tiles; ++tile)
    tile_kernel<T, MR, NV, kAColumns, kTail, kShare, kSplit>(k, a0 + tile * a_tile, a_stride, b0, ldb,
                                                             c0 + tile * MR * ldc, ldc, alpha, beta, last_lanes,
                                                             bias ? bias + tile * MR * ld_bias : nullptr, ld_bias);
}

template <class T>
using KernelFn = kernels::detail::TileRun<T>;  // a micro_kernel instance (gemm.h: plans hold them too)

// Accumulator chains of an mr x nv tile: one per vector, a last vector shared by `share` rows.
constexpr int tile_chains(int mr, int nv, int share) { return share > 1 ? mr * (nv - 1) + mr / share : mr * nv; }

// A tile splits K (kSplit) when its chains cannot keep the FMA units busy on their own: the FMA's
// latency (4 cycles) times its throughput (2 a cycle) is 8 chains. Measured gains at 1-3 chains;
// the 6 of a 4 x 2 tile with a half vector gain nothing measurable, and splitting them costs
// nothing either.
constexpr int kMaxSplitChains = 6;

// The kernels for every tile up to kMaxMr x kMaxNv; the half-vector variant exists for even MR
// only (odd entries hold the plain kernel, never chosen for it: see kernel_for), the split-K one
// for tiles of at most kMaxSplitChains chains (the others hold the plain kernel).
template <class T, bool kAColumns, int kTail, int kShare, bool kSplit, int... I>
constexpr std::array<KernelFn<T>, sizeof...(I)> kernel_table(std::integer_sequence<int, I...>) {
  constexpr auto share = [](int i) { return (i / kMaxNv + 1) % kShare == 0 ? kShare : 1; };
  constexpr auto split = [share](int i) {
    return kSplit && tile_chains(i / kMaxNv + 1, i % kMaxNv + 1, share(i)) <= kMaxSplitChains;
  };
  return {&micro_kernel<T, I / kMaxNv + 1, I % kMaxNv + 1, kAColumns, kTail, share(I), split(I)>...};
}

template <class T, bool kAColumns, int kTail, int kShare, bool kSplit>
constexpr auto kKernels =
    kernel_table<T, kAColumns, kTail, kShare, kSplit>(std::make_integer_sequence<int, kMaxMr * kMaxNv>{});

// How many rows of an mr-row tile share its last vector, which holds `last_lanes` columns: four
// (a quarter each) where the registers have quarters and B's quarter is read whole (packed and
// zero-padded, or exactly a quarter wide), two (halves), or none.
template <class T>
constexpr int tail_share(Index mr, int last_lanes, bool b_packed) {
  constexpr int L = Simd<T>::kLanes;
  if (Simd<T>::kQuarters && mr % 4 == 0 && (b_packed ? last_lanes <= L / 4 : last_lanes == L / 4)) return 4;
  if (L >= 2 && mr % 2 == 0 && last_lanes <= L / 2) return 2;
  return 1;
}

// A long K, as in a weight gradient (A^T B over the batch's rows). Over a block of K this long, a
// tile of few chains splits K (short products keep one set: the second set's zeroing and adds
// are a fixed cost), and gemm_impl may compute the product transposed (its scratch block and the
// pass adding it into C are then small beside the FMAs).
constexpr Index kLongK = 64;

template <class T, bool kAColumns, int kTail, bool kSplit>
KernelFn<T> pick_share(int i, int share) {
  if constexpr (Simd<T>::kQuarters && kTail != kMaskedTail) {
    if (share == 4) return kKernels<T, kAColumns, kTail, 4, kSplit>[i];
  }
  if constexpr (kTail == kPairTail) return kKernels<T, kAColumns, kTail, 2, kSplit>[i];  // shared tiles only
  return share == 2 ? kKernels<T, kAColumns, kTail, 2, kSplit>[i] : kKernels<T, kAColumns, kTail, 1, kSplit>[i];
}

template <class T, bool kAColumns, int kTail>
KernelFn<T> pick_kernel(int i, int share, bool split) {
  if constexpr (kAColumns) {
    if (split) return pick_share<T, true, kTail, true>(i, share);
  }
  return pick_share<T, kAColumns, kTail, false>(i, share);
}

// The kernel for an mr x nv tile whose last vector is shared by `share` rows (tail_share); k is
// the length of the block of K it runs over.
template <class T>
KernelFn<T> kernel_for(int mr, int nv, bool a_columns, BTail tail, int share, Index k = 0) {
  const int i = (mr - 1) * kMaxNv + (nv - 1);
  const bool split = a_columns && k >= kLongK && tile_chains(mr, nv, share) <= kMaxSplitChains;
  if constexpr (Simd<T>::kPairLanes > 0) {
    if (tail == kPairTail)
      return a_columns ? pick_kernel<T, true, kPairTail>(i, share, split)
                       : pick_kernel<T, false, kPairTail>(i, share, split);
  }
  if (tail == kMaskedTail)
    return a_columns ? pick_kernel<T, true, kMaskedTail>(i, share, split)
                     : pick_kernel<T, false, kMaskedTail>(i, share, split);
  return a_columns ? pick_kernel<T, true, kWholeTail>(i, share, split)
                   : pick_kernel<T, false, kWholeTail>(i, share, split);
}

/// A buffer for packed panels that only grows: once warm, packing allocates nothing.
template <class T>
class PackBuffer {
 public:
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { release(); }

  T* get(std::size_t count) {
    if (count > capacity_) {
      release();
      data_ = static_cast<T*>(::operator new (count * sizeof(T), std::align_val_t{64}));
      capacity_ = count;
    }
    return data_;
  }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete (data_, std::align_val_t{64});
    data_ = nullptr;
    capacity_ = 0;
  }
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

template <class T>
PackBuffer<T>& a_buffer() {
  thread_local PackBuffer<T> buffer;
  return buffer;
}

template <class T>
PackBuffer<T>& b_buffer() {
  thread_local PackBuffer<T> buffer;
  return buffer;
}

template <class T>
PackBuffer<T>& c_buffer() {  // a transposed product's result (gemm_impl)
  thread_local PackBuffer<T> buffer;
  return buffer;
}

constexpr Index round_up(Index x, Index m) { return (x + m - 1) / m * m; }

// The n values p[0], p[stride], ...: p itself when they are contiguous, else copied into the B
// buffer (a vector of opB read across rows: a column for N = 1, a row of B^T for K = 1).
template <class T>
const T* contiguous(const T* p, Index stride, Index n) {
  if (stride == 1) return p;
  T* copy = b_buffer<T>().get(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) copy[i] = p[i * stride];
  return copy;
}

// Packs opB[0:kc, 0:nc] into panels of nr columns: panel j0 starts at dst + j0 * kc and holds
// kc rows of round_up(width, lanes) values, the padding zeroed.
template <class T>
[[gnu::noinline]] void pack_b(bool trans, const T* b, Index ldb, Index kc, Index nc, Index nr, T* dst) {
  using S = Simd<T>;
  constexpr Index L = S::kLanes;
  const Index full = nc / nr * nr;
  const Index tail = nc - full, tail_pad = round_up(tail, L);
  if (!trans) {
    const int tail_lanes = static_cast<int>(tail % L);
    const auto mask = S::mask(tail_lanes == 0 ? static_cast<int>(L) : tail_lanes);
    // Row by row, so that B is read sequentially.
    for (Index p = 0; p < kc; ++p) {
      const T* src = b + p * ldb;
      for (Index j0 = 0; j0 < full; j0 += nr) {
        T* out = dst + j0 * kc + p * nr;
        for (Index j = 0; j < nr; j += L) S::store(out + j, S::load(src + j0 + j));
      }
      if (tail > 0) {
        T* out = dst + full * kc + p * tail_pad;
        Index j = 0;
        for (; j + L <= tail; j += L) S::store(out + j, S::load(src + full + j));
        if (j < tail) S::store(out + j, S::load(src + full + j, mask));  // masked lanes read 0
      }
    }
    return;
  }
  // opB[p, j] = b[j * ldb + p]: transpose lanes x lanes blocks of B into the panels. Blocks at
  // the edges load fewer rows (the rest zero, which is the panel's padding) or fewer columns.
  using Reg = typename S::Reg;
  for (Index j0 = 0; j0 < nc; j0 += nr) {
    const Index w = std::min(nr, nc - j0);
    const Index wpad = round_up(w, L);
    T* panel = dst + j0 * kc;
    for (Index j = 0; j < w; j += L) {
      const T* src = b + (j0 + j) * ldb;
      const int rows = static_cast<int>(std::min(L, w - j));
      for (Index p = 0; p < kc; p += L) {
        const int cols = static_cast<int>(std::min(L, kc - p));
        const auto mask = S::mask(cols);
        Reg r[L];
#pragma GCC unroll 8
        for (int i = 0; i < L; ++i) {
          if (i >= rows)
            r[i] = S::zero();
          else if (cols == L)
            r[i] = S::load(src + i * ldb + p);
          else
            r[i] = S::load(src + i * ldb + p, mask);
        }
        S::transpose(r);
#pragma GCC unroll 8
        for (int q = 0; q < L; ++q)
          if (q < cols) S::store(panel + (p + q) * wpad + j, r[q]);
      }
    }
  }
}

// One panel of H rows of opA, stored column by column: dst[p * H + r] = opA[r, p].
//
// A panel no taller than a vector is written one whole vector per column, each store's spare
// lanes landing on the next columns' slots before those are stored; the last columns, whose
// spare lanes would leave the panel, store only their H lanes. A^T's column is H contiguous
// values (one masked load); A's L columns are an L x L transpose of H rows (the rest zero).
// Element by element, packing the 64 x 256 states of the large RNN's steps showed in its profile.
template <class T, int H>
void pack_a_panel(bool trans, const T* a, Index lda, Index kc, T* dst) {
  using S = Simd<T>;
  constexpr Index L = S::kLanes;
  if constexpr (H <= L) {
    auto put = [&](Index p, typename S::Reg x) {  // whole vectors while they stay in the panel
      if (p * H + L <= kc * H)
        S::store(dst + p * H, x);
      else
        S::store_first(dst + p * H, x, H);  // H < L here
    };
    if (trans) {
      const auto mask = S::mask(H);
      for (Index p = 0; p < kc; ++p) put(p, S::load(a + p * lda, mask));
      return;
    }
    Index p = 0;
    for (; p + L <= kc; p += L) {
      typename S::Reg r[L];
#pragma GCC unroll 8
      for (int i = 0; i < L; ++i) r[i] = i < H ? S::load(a + i * lda + p) : S::zero();
      S::transpose(r);
#pragma GCC unroll 8
      for (int q = 0; q < L; ++q) put(p + q, r[q]);
    }
    for (; p < kc; ++p)
#pragma GCC unroll 8
      for (int r = 0; r < H; ++r) dst[p * H + r] = a[r * lda + p];
    return;
  }
  if (trans) {
    for (Index p = 0; p < kc; ++p) {
      const T* src = a + p * lda;
#pragma GCC unroll 8
      for (int r = 0; r < H; ++r) dst[p * H + r] = src[r];
    }
    return;
  }
  const T* rows[H];
#pragma GCC unroll 8
  for (int r = 0; r < H; ++r) rows[r] = a + r * lda;
  for (Index p = 0; p < kc; ++p)
#pragma GCC unroll 8
    for (int r = 0; r < H; ++r) dst[p * H + r] = rows[r][p];
}

template <class T, int... H>
constexpr std::array<void (*)(bool, const T*, Index, Index, T*), sizeof...(H)> pack_a_table(
    std::integer_sequence<int, H...>) {
  return {&pack_a_panel<T, H + 1>...};
}

// Packs opA[0:mc, 0:kc] into panels of mr rows: panel i0 starts at dst + i0 * kc and holds kc
// columns of h = min(mr, mc - i0) values.
template <class T>
[[gnu::noinline]] void pack_a(bool trans, const T* a, Index lda, Index mc, Index kc, Index mr, T* dst) {
  static constexpr auto kPanels = pack_a_table<T>(std::make_integer_sequence<int, kMaxMr>{});
  for (Index i0 = 0; i0 < mc; i0 += mr) {
    const Index h = std::min(mr, mc - i0);
    kPanels[h - 1](trans, trans ? a + i0 : a + i0 * lda, lda, kc, dst + i0 * kc);
  }
}

template <class T>
[[gnu::noinline]] void add_bias(Index m, Index n, const T* bias, Index ld_bias, T* c, Index ldc) {
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n; ++j) c[i * ldc + j] += bias[i * ld_bias + j];
}

template <class T>
[[gnu::noinline]] void scale_c(Index m, Index n, T beta, T* c, Index ldc) {
  for (Index i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0))
      std::fill(ci, ci + n, T(0));
    else if (beta != T(1))
      for (Index j = 0; j < n; ++j) ci[j] *= beta;
  }
}

struct Tile {
  int mr, nv;
};

// Twice the cycles per k of an mr x nv tile: FMAs issue two a cycle, loads (mr broadcasts and
// nv vectors) two a cycle, and each accumulator chain waits ~4 cycles for the previous FMA.
constexpr Index tile_cost(Index mr, Index nv, int share = 1) {
  return std::max({Index(tile_chains(static_cast<int>(mr), static_cast<int>(nv), share)), Index(8), mr + nv});
}

// Cost per k of covering m x n with mr x nv tiles and their edges. With `halves`, tiles whose
// last vector is at most half full count its sharing among rows (tile_kernel's kShare, as for B
// packed).
template <class T>
constexpr Index cover_cost(Index m, Index n, Tile t, bool halves = false) {
  constexpr Index L = Simd<T>::kLanes;
  const Index nr = t.nv * L;
  const Index full_r = m / t.mr, rem_r = m % t.mr;
  const Index full_c = n / nr, rem_nv = (n % nr + L - 1) / L;
  // Only the column edge has a partial last vector (nr is whole vectors).
  auto half = [&](Index mr) { return halves && n % L != 0 ? tail_share<T>(mr, static_cast<int>(n % L), true) : 1; };
  Index cost = full_r * full_c * tile_cost(t.mr, t.nv);
  if (rem_r > 0) cost += full_c * tile_cost(rem_r, t.nv);
  if (rem_nv > 0) cost += full_r * tile_cost(t.mr, rem_nv, half(t.mr));
  if (rem_r > 0 && rem_nv > 0) cost += tile_cost(rem_r, rem_nv, half(rem_r));
  return cost;
}

template <class T>
constexpr Tile choose_tile(Index m, Index n) {
  // 6 x 2 vectors reads a narrower panel of B (16 KiB of L1 at KC = 256); 4 x 3 must save
  // clearly more lanes to be worth its wider panel.
#if TG_GEMM_AVX512
  constexpr Tile kWide{8, 3}, kTall{8, 2};
#else
  constexpr Tile kWide{4, 3}, kTall{6, 2};
#endif
  return 100 * cover_cost<T>(m, n, kWide) < 97 * cover_cost<T>(m, n, kTall) ? kWide : kTall;
}

// Row panels of A^T that read a weight gradient's B in place (see gemm_impl's packed_b).
constexpr Index kInPlacePanels = 4;

// Whether gemm_impl packs the B of an m x n product of A^T with a long K (a weight gradient):
// when more than one column panel and more than kInPlacePanels row panels read it.
template <class T>
constexpr bool packs_b(Index m, Index n) {
  const Tile t = choose_tile<T>(m, n);
  return m > kInPlacePanels * t.mr && n > t.nv * Simd<T>::kLanes;
}

// Whether m x n costs clearly more per k in the tiles than n x m (both with their best tile), or
// as much while n x m reads its B in place where m x n packs it: a weight gradient's B has
// K = B*T rows, so packing it is a pass over all of them.
template <class T>
constexpr bool swap_pays(Index m, Index n) {
  const Index straight = cover_cost<T>(m, n, choose_tile<T>(m, n), true);
  const Index swapped = cover_cost<T>(n, m, choose_tile<T>(n, m), true);
  return 10 * swapped < 9 * straight || (swapped <= straight && packs_b<T>(m, n) && !packs_b<T>(n, m));
}

template <class T>
struct Blocking {
  // A KC x NR panel of B (16 KiB float 6x16, double 6x8) stays in L1, an MC x KC block of A
  // (120 KiB) in L2, leaving room there for the B panels streaming through.
  static constexpr Index kc = 256;
  static constexpr Index mc = 480 / sizeof(T);
  static constexpr Index nc = 2040;
};

// k = 1: C = alpha * a b (+ bias) + beta * C for the column a (a[i * a_step]) and the row b
// (contiguous): an outer product, as the input projection of a series of one feature is
// ([B*T, 1] x [1, G]). Row by row, each row of C a few vectors: a tile spends more on its set-up,
// its shared last vector and its stores than on the one FMA each accumulator gets (1600 x 1 x 20
// with AVX-512: 4.5 us in 8 x 2 tiles). alpha scales a[i] first, and the bias is added in the
// same FMA: within the tiles' rounding, not their bits.
template <class T, bool kBias, bool kBeta>
void outer_rows_as(Index m, Index n, T alpha, const T* a, Index a_step, const T* b, T beta, T* c, Index ldc,
                   const T* bias, Index ld_bias) {
  using S = Simd<T>;
  using Reg = typename S::Reg;
  constexpr Index L = S::kLanes;
  const Index full = n / L * L;
  const int rest = static_cast<int>(n - full);
  const auto mask = S::mask(rest == 0 ? static_cast<int>(L) : rest);
  const Reg vb = S::set1(beta);
  for (Index i = 0; i < m; ++i) {
    const Reg ai = S::set1(alpha * a[i * a_step]);
    const T* bias_row = kBias ? bias + i * ld_bias : nullptr;
    T* c_row = c + i * ldc;
    auto value = [&](Reg bj, auto load) __attribute__((always_inline)) {
      Reg v = kBias ? S::fma(ai, bj, load(bias_row)) : S::mul(ai, bj);
      if constexpr (kBeta) v = S::fma(load(c_row), vb, v);
      return v;
    };
    Index j = 0;
    for (; j < full; j += L) {
      auto at = [j](const T* p) { return S::load(p + j); };
      S::store(c_row + j, value(S::load(b + j), at));
    }
    if (rest > 0) {
      auto at = [j, mask](const T* p) { return S::load(p + j, mask); };
      S::store_first(c_row + j, value(S::load(b + j, mask), at), rest);
    }
  }
}

template <class T>
[[gnu::noinline]] void outer_rows(Index m, Index n, T alpha, const T* a, Index a_step, const T* b, T beta, T* c,
                                  Index ldc, const T* bias, Index ld_bias) {
  if (bias != nullptr && beta != T(0))
    outer_rows_as<T, true, true>(m, n, alpha, a, a_step, b, beta, c, ldc, bias, ld_bias);
  else if (bias != nullptr)
    outer_rows_as<T, true, false>(m, n, alpha, a, a_step, b, beta, c, ldc, bias, ld_bias);
  else if (beta != T(0))
    outer_rows_as<T, false, true>(m, n, alpha, a, a_step, b, beta, c, ldc, bias, ld_bias);
  else
    outer_rows_as<T, false, false>(m, n, alpha, a, a_step, b, beta, c, ldc, bias, ld_bias);
}

// n = 1 with A read by rows: c[i * ldc] = alpha * dot(A[i, :], x) (+ bias[i * ld_bias]) +
// beta * c[i * ldc]. The tile kernels would fill one lane in eight; dot products along k fill
// them all.
// Dot products no longer than this are summed one product at a time.
constexpr Index kShortDot = 4;

template <class T>
[[gnu::noinline]] void gemv_rows(Index m, Index k, T alpha, const T* a, Index lda, const T* x, T beta, T* c, Index ldc,
                                 const T* bias, Index ld_bias) {
  using S = Simd<T>;
  using Reg = typename S::Reg;
  constexpr Index L = S::kLanes;
  auto finish = [&](Index i, T dot) {
    T& y = c[i * ldc];
    T v = alpha * dot;
    if (bias) v += bias[i * ld_bias];
    y = beta == T(0) ? v : v + beta * y;
  };
  if (k <= kShortDot) {
    // A few products a row (a hidden size of 1: k = 1): summed in a register, with no vector to
    // reduce across its lanes afterwards.
    for (Index i = 0; i < m; ++i) {
      const T* row = a + i * lda;
      T dot = row[0] * x[0];
      for (Index p = 1; p < k; ++p) dot += row[p] * x[p];
      finish(i, dot);
    }
    return;
  }
  constexpr int kRows = 4;
  const Index k_full = k / L * L;
  const int tail = static_cast<int>(k - k_full);
  const auto mask = S::mask(tail == 0 ? static_cast<int>(L) : tail);
  Index i = 0;
  for (; i + kRows <= m; i += kRows) {
    Reg acc[kRows];
    const T* rows[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      acc[r] = S::zero();
      rows[r] = a + (i + r) * lda;
    }
    for (Index p = 0; p < k_full; p += L) {
      const Reg xv = S::load(x + p);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) acc[r] = S::fma(S::load(rows[r] + p), xv, acc[r]);
    }
    if (tail > 0) {
      const Reg xv = S::load(x + k_full, mask);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) acc[r] = S::fma(S::load(rows[r] + k_full, mask), xv, acc[r]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) finish(i + r, S::hsum(acc[r]));
  }
  for (; i < m; ++i) {
    // One row alone (a dot product): four accumulators, so that the FMAs do not wait on each other.
    const T* row = a + i * lda;
    Reg acc[4] = {S::zero(), S::zero(), S::zero(), S::zero()};
    Index p = 0;
    for (; p + 4 * L <= k_full; p += 4 * L)
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) acc[u] = S::fma(S::load(row + p + u * L), S::load(x + p + u * L), acc[u]);
    for (; p < k_full; p += L) acc[0] = S::fma(S::load(row + p), S::load(x + p), acc[0]);
    if (tail > 0) acc[1] = S::fma(S::load(row + k_full, mask), S::load(x + k_full, mask), acc[1]);
    finish(i, S::hsum(S::add(S::add(acc[0], acc[1]), S::add(acc[2], acc[3]))));
  }
}

// Width of the packed panels of columns [jc, jc + nc) of opB: full panels of nr and the last
// one padded to whole vectors.
template <class T>
constexpr Index packed_width(Index nc, Index nr) {
  constexpr Index L = Simd<T>::kLanes;
  return nc / nr * nr + round_up(nc % nr, L);
}

// With B packed ahead of time (gemm_packed_b), where the KC x NC block (jc, pc) starts: blocks in
// loop order, every column block but the last exactly nc_max wide.
template <class T>
constexpr Index prepacked_offset(Index jc, Index pc, Index n, Index k, Index nr, Index nc_max) {
  return jc * k + pc * packed_width<T>(std::min(nc_max, n - jc), nr);
}

template <class T>
void gemm_impl(bool ta, bool tb, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb,
               T beta, T* c, Index ldc, const T* prepacked = nullptr, const T* bias = nullptr, Index ld_bias = 0) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == T(0)) {
    scale_c(m, n, beta, c, ldc);
    if (bias) add_bias(m, n, bias, ld_bias, c, ldc);
    return;
  }
  if (bias && n == 1 && m > 1 && ta) {  // the one-row product below knows no bias: one pass after
    gemm_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, prepacked);
    add_bias(m, n, bias, ld_bias, c, ldc);
    return;
  }
  if (prepacked && n == 1) {  // packed as the plain vector opB[:, 0]
    b = prepacked;
    tb = false;
    ldb = 1;
    prepacked = nullptr;
  }
  // A^T of one row is A's column: read in place when that is contiguous (a dot product).
  const bool a_row = !ta || (m == 1 && lda == 1);
  if (n == 1 && (m > 1 || a_row)) {
    // A matrix times a vector. opB[:, 0] is b[p * ldb], or b[p] when transposed.
    const T* x = tb ? b : contiguous(b, ldb, k);
    if (a_row) {
      gemv_rows(m, k, alpha, a, ta ? k : lda, x, beta, c, ldc, bias, ld_bias);
      return;
    }
    // c^T = x^T A with A stored [k, m]: a one-row product whose rows of B are rows of A.
    if (ldc == 1) {
      gemm_impl(false, false, 1, m, k, alpha, x, k, a, lda, beta, c, 1);
      return;
    }
  }
  if (k == 1 && !prepacked) {  // an outer product: opA[i, 0] is a[i] when transposed, opB[0, j] b[j * ldb]
    outer_rows(m, n, alpha, a, ta ? 1 : lda, tb ? contiguous(b, ldb, n) : b, beta, c, ldc, bias, ld_bias);
    return;
  }
  if (ta && !tb && !prepacked && k >= kLongK && m > 1 && swap_pays<T>(m, n)) {
    // A weight gradient's C covers better transposed: C^T = B^T A into a scratch block, then
    // added in. 20 x 1600 x 10 (a Dense(10)'s weight) becomes 10 x 1600 x 20, whose rows of 20
    // fill the 4 x 3 tiles with a half vector; as 20 x 10 its rows of 10 took 4 x 2 tiles.
    T* s = c_buffer<T>().get(static_cast<std::size_t>(m * n));
    gemm_impl(true, false, n, m, k, T(1), b, ldb, a, lda, T(0), s, m);
    for (Index i = 0; i < m; ++i) {
      T* ci = c + i * ldc;
      for (Index j = 0; j < n; ++j) {
        T v = alpha * s[j * m + i];
        if (bias) v += bias[i * ld_bias + j];
        ci[j] = beta == T(0) ? v : v + beta * ci[j];
      }
    }
    return;
  }
  constexpr Index L = Simd<T>::kLanes;
  const Tile tile = choose_tile<T>(m, n);
  const Index mr = tile.mr, nr = tile.nv * L;

  const Index kc_max = Blocking<T>::kc;
  const Index mc_max = Blocking<T>::mc / mr * mr;
  const Index nc_max = Blocking<T>::nc / nr * nr;

  // Packing B pays once its panels are reused by enough row blocks; transposed B is always packed
  // so that the kernel reads rows of op(B). A B no wider than one panel is read in place (its last
  // vector masked): packing it costs a pass over all of B, which a weight gradient's K = B*T rows
  // make large, and buys nothing a narrow row does not already have (measured on 20 x 1600 x 20
  // with A^T and on 32 x 20 x 20: docs/performance.md, "GEMM"). So is a weight gradient's wider
  // B when few row panels read it (an LSTM's 20 x 1599 x 80, a GRU's 20 x 1599 x 60): three reads
  // of it from L2 cost less than packing it once.
  const bool packed_b = prepacked || tb || (m > mr && n > nr && !(ta && k >= kLongK && m <= kInPlacePanels * mr));
  // A of at most 32 columns is read in place: it stays in L1, and packing it cost more than it
  // saved (docs/performance.md, "Packing").
  const bool packed_a = m > mr && k > 32 && n > 4 * nr;

  T* bbuf = packed_b && !prepacked
                ? b_buffer<T>().get(static_cast<std::size_t>(std::min(k, kc_max) * round_up(std::min(n, nc_max), nr)))
                : nullptr;
  T* abuf = packed_a
                ? a_buffer<T>().get(static_cast<std::size_t>(std::min(k, kc_max) * round_up(std::min(m, mc_max), mr)))
                : nullptr;

  for (Index jc = 0; jc < n; jc += nc_max) {
    const Index nc = std::min(nc_max, n - jc);
    for (Index pc = 0; pc < k; pc += kc_max) {
      const Index kc = std::min(kc_max, k - pc);
      const T beta_pc = pc == 0 ? beta : T(1);
      const T* bias_pc = pc == 0 ? bias : nullptr;  // added once, with the first block of K
      if (prepacked)
        bbuf = const_cast<T*>(prepacked) + prepacked_offset<T>(jc, pc, n, k, nr, nc_max);
      else if (packed_b)
        pack_b(tb, tb ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, nr, bbuf);
      for (Index ic = 0; ic < m; ic += mc_max) {
        const Index mc = std::min(mc_max, m - ic);
        const T* a_block = ta ? a + pc * lda + ic : a + ic * lda + pc;
        if (packed_a) pack_a(ta, a_block, lda, mc, kc, mr, abuf);
        // Where the kernel reads the rows of opA: a packed panel (column-major, stride = its
        // height), A^T in place (column-major, stride lda) or A in place (row-major).
        const bool a_columns = packed_a || ta;
        const T* a_base = packed_a ? abuf : a_block;
        const Index a_step = packed_a ? kc : (ta ? 1 : lda);
        for (Index jr = 0; jr < nc; jr += nr) {
          const Index w = std::min(nr, nc - jr);
          const int nv = static_cast<int>((w + L - 1) / L);
          const int last_lanes = static_cast<int>(w - (nv - 1) * L);
          const T* b_panel = packed_b ? bbuf + jr * kc : b + pc * ldb + jc + jr;
          const Index b_stride = packed_b ? round_up(w, L) : ldb;
          // B read in place needs its last vector masked, unless a shared tile reads it as
          // exactly half a register or exactly kPairLanes values (no mask, no lane move).
          auto b_tail = [&](int share) {
            if (packed_b || last_lanes == L || (share == 2 && 2 * last_lanes == L)) return kWholeTail;
            return share > 1 && last_lanes == Simd<T>::kPairLanes ? kPairTail : kMaskedTail;
          };
          T* c_panel = c + ic * ldc + jc + jr;
          const T* bias_panel = bias_pc ? bias_pc + ic * ld_bias + jc + jr : nullptr;
          const Index full_tiles = mc / mr, rest = mc - full_tiles * mr;
          if (full_tiles > 0) {
            const int share = tail_share<T>(mr, last_lanes, packed_b);
            kernel_for<T>(static_cast<int>(mr), nv, a_columns, b_tail(share), share, kc)(
                full_tiles, mr * a_step, kc, a_base, packed_a ? mr : lda, b_panel, b_stride, nullptr, c_panel, ldc,
                alpha, beta_pc, last_lanes, bias_panel, ld_bias);
          }
          if (rest > 0) {
            const Index ir = full_tiles * mr;
            const int share = tail_share<T>(rest, last_lanes, packed_b);
            kernel_for<T>(static_cast<int>(rest), nv, a_columns, b_tail(share), share, kc)(
                1, 0, kc, a_base + ir * a_step, packed_a ? rest : lda, b_panel, b_stride, nullptr, c_panel + ir * ldc,
                ldc, alpha, beta_pc, last_lanes, bias_panel ? bias_panel + ir * ld_bias : nullptr, ld_bias);
          }
        }
      }
    }
  }
}

// Whether m x n x k with B packed runs as one block of gemm_impl's loops with A read in place:
// then a plan calls the tile kernels directly (plan_packed_b's `direct`).
template <class T>
constexpr bool one_block(Index m, Index n, Index k) {
  if (m <= 0 || n <= 1 || k <= 0) return false;  // the driver's special cases
  const Tile tile = choose_tile<T>(m, n);
  const Index mr = tile.mr, nr = tile.nv * Simd<T>::kLanes;
  return n <= nr && k <= Blocking<T>::kc && m <= Blocking<T>::mc / mr * mr;  // packed_a needs n > 4 nr
}

// Where B's last quarter by groups of four k (quarter_by_groups) follows the packed panels, for
// a one-block plan one of whose kernels reads it (tile_kernel_k4: AVX-512, float, a last vector
// of at most a quarter shared by four rows); -1 when none does. Made once by pack_b_for, it
// spares every call of the plan making it: 80 values for an RNN's 32 x 20 x 20 step, 320 for
// an LSTM's 32 x 20 x 80 dz U^T.
template <class T>
Index groups_offset(Index m, Index n, Index k) {
  if constexpr (TG_GEMM_AVX512 == 0 || !std::is_same_v<T, float>) {
    return -1;
  } else {
    if (!one_block<T>(m, n, k) || !groups_pay(k)) return -1;
    constexpr Index L = Simd<T>::kLanes;
    const Index mr = choose_tile<T>(m, n).mr;
    const int last_lanes = static_cast<int>(n - (n - 1) / L * L);
    const bool full = m >= mr && tail_share<T>(mr, last_lanes, true) == 4;
    const bool rest = m % mr > 0 && tail_share<T>(m % mr, last_lanes, true) == 4;
    return full || rest ? k * round_up(n, L) : -1;
  }
}

template <class T>
Index packed_b_size_impl(Index m, Index n, Index k) {
  if (m <= 0 || n <= 0 || k <= 0) return 0;
  if (n == 1) return k;
  constexpr Index L = Simd<T>::kLanes;
  const Tile tile = choose_tile<T>(m, n);
  const Index nr = tile.nv * L, nc_max = Blocking<T>::nc / nr * nr;
  Index size = 0;
  for (Index jc = 0; jc < n; jc += nc_max) size += k * packed_width<T>(std::min(nc_max, n - jc), nr);
  if (groups_offset<T>(m, n, k) >= 0) size += round_up(k, 4) * 4;
  return size;
}

template <class T>
void pack_b_for_impl(bool tb, Index m, Index n, Index k, const T* b, Index ldb, T* dst) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  if (n == 1) {
    for (Index p = 0; p < k; ++p) dst[p] = tb ? b[p] : b[p * ldb];
    return;
  }
  constexpr Index L = Simd<T>::kLanes;
  const Tile tile = choose_tile<T>(m, n);
  const Index nr = tile.nv * L;
  const Index kc_max = Blocking<T>::kc, nc_max = Blocking<T>::nc / nr * nr;
  for (Index jc = 0; jc < n; jc += nc_max) {
    const Index nc = std::min(nc_max, n - jc);
    for (Index pc = 0; pc < k; pc += kc_max)
      pack_b(tb, tb ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, std::min(kc_max, k - pc), nc, nr,
             dst + prepacked_offset<T>(jc, pc, n, k, nr, nc_max));
  }
  if constexpr (std::is_same_v<T, float>) {
    const Index groups = groups_offset<T>(m, n, k);  // from the one panel just packed, rows round_up(n, L) apart
    if (groups >= 0) quarter_by_groups(dst + (n - 1) / L * L, round_up(n, L), k, dst + groups);
  }
}

}  // namespace

template <class T>
PackedPlan<T> plan_packed_b(std::int64_t m, std::int64_t n, std::int64_t k) {
  PackedPlan<T> plan;
  plan.m = m;
  plan.n = n;
  plan.k = k;
  plan.packed = &gemm_packed_b<T>;  // this path's driver, which reads the layout packed here
  constexpr Index L = Simd<T>::kLanes;
  if (!one_block<T>(m, n, k)) return plan;
  const Index mr = choose_tile<T>(m, n).mr;
  const int nv = static_cast<int>((n + L - 1) / L);
  plan.last_lanes = static_cast<int>(n - (nv - 1) * L);
  plan.mr = mr;
  plan.full_tiles = m / mr;
  plan.rests = m - plan.full_tiles * mr;
  plan.b_stride = round_up(n, L);
  if (plan.full_tiles > 0)
    plan.full = kernel_for<T>(static_cast<int>(mr), nv, false, kWholeTail, tail_share<T>(mr, plan.last_lanes, true));
  if (plan.rests > 0)
    plan.rest = kernel_for<T>(static_cast<int>(plan.rests), nv, false, kWholeTail,
                              tail_share<T>(plan.rests, plan.last_lanes, true));
  plan.groups = groups_offset<T>(m, n, k);
  plan.direct = true;
  return plan;
}

template PackedPlan<float> plan_packed_b<float>(std::int64_t, std::int64_t, std::int64_t);
template PackedPlan<double> plan_packed_b<double>(std::int64_t, std::int64_t, std::int64_t);

template <class T>
std::int64_t packed_b_size(std::int64_t m, std::int64_t n, std::int64_t k) {
  return packed_b_size_impl<T>(m, n, k);
}
template std::int64_t packed_b_size<float>(std::int64_t, std::int64_t, std::int64_t);
template std::int64_t packed_b_size<double>(std::int64_t, std::int64_t, std::int64_t);

template <class T>
void pack_b_for(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* b, std::int64_t ldb, T* packed) {
  pack_b_for_impl(trans_b, m, n, k, b, ldb, packed);
}
template void pack_b_for<float>(bool, std::int64_t, std::int64_t, std::int64_t, const float*, std::int64_t, float*);
template void pack_b_for<double>(bool, std::int64_t, std::int64_t, std::int64_t, const double*, std::int64_t, double*);

template <class T>
void gemm_packed_b(bool trans_a, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
                   const T* packed_b, T beta, T* c, std::int64_t ldc, const T* bias, std::int64_t ld_bias) {
  gemm_impl<T>(trans_a, false, m, n, k, alpha, a, lda, nullptr, 0, beta, c, ldc, packed_b, bias, ld_bias);
}
template void gemm_packed_b<float>(bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                                   const float*, float, float*, std::int64_t, const float*, std::int64_t);
template void gemm_packed_b<double>(bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                                    const double*, double, double*, std::int64_t, const double*, std::int64_t);

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc, const float* bias,
          std::int64_t ld_bias) {
  gemm_impl<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr, bias, ld_bias);
}

void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc,
          const double* bias, std::int64_t ld_bias) {
  gemm_impl<double>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr, bias, ld_bias);
}

}  // namespace tg::kernels::TAPEGRAD_KERNEL_NS

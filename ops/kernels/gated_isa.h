#pragma once
/// \file
/// One instruction set's copy of the kernels of gated.h (compiled once per path, see
/// ops/kernels/README.md).
///
/// The gate math of one LSTM or GRU time step over plain row-major buffers (no tensors, no
/// tape): everything of a step but its GEMMs, forward and backward. `b` rows (the batch) of `u`
/// units each; a null pointer stands for a zero state (the first step) or a gradient nobody
/// asked for. float32 uses the fast tanh/sigmoid of ops/kernels/unary.h, float64 the C library.

#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <tapegrad/ops/kernels/unary_isa.h>
#include <tapegrad/ops/kernels/isa_ns.h>

namespace tg::kernels::TAPEGRAD_KERNEL_NS {

namespace detail {
inline float sigmoid1(float x) { return sigmoid_f32(x); }
inline double sigmoid1(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}
inline float tanh1(float x) { return tanh_f32(x); }
inline double tanh1(double x) { return std::tanh(x); }
}  // namespace detail

// The loops work on one batch row at a time through __restrict pointers to the gate blocks:
// the blocks share a buffer, and without the promise GCC cannot prove them apart and vectorises
// nothing. A missing state is a template flag, so no loop carries a branch.
namespace detail {
template <bool HasPrev, class T>
void lstm_row_forward(T* __restrict i, T* __restrict f, T* __restrict g, T* __restrict o, T* __restrict tc,
                      const T* __restrict c_prev, T* __restrict c, T* __restrict h, std::int64_t u) {
  for (std::int64_t j = 0; j < u; ++j) {
    const T ij = sigmoid1(i[j]), fj = sigmoid1(f[j]), gj = tanh1(g[j]), oj = sigmoid1(o[j]);
    T cj = ij * gj;
    if constexpr (HasPrev) cj += fj * c_prev[j];
    const T t = tanh1(cj);
    i[j] = ij, f[j] = fj, g[j] = gj, o[j] = oj, tc[j] = t;
    c[j] = cj;
    h[j] = oj * t;
  }
}

template <class T>
void lstm_row_backward(const T* __restrict i, const T* __restrict f, const T* __restrict g, const T* __restrict o,
                       const T* __restrict tc, const T* __restrict c_prev, const T* __restrict dh,
                       const T* __restrict dc, T* __restrict di, T* __restrict df, T* __restrict dg, T* __restrict dout,
                       T* __restrict dc_prev, std::int64_t u) {
  // dg first holds dc_total, the gradient of c through both of its uses (c itself and h).
  if (dh) {
    for (std::int64_t j = 0; j < u; ++j) {
      dout[j] = dh[j] * tc[j] * o[j] * (T(1) - o[j]);
      dg[j] = dh[j] * o[j] * (T(1) - tc[j] * tc[j]);
    }
  } else {
    for (std::int64_t j = 0; j < u; ++j) dout[j] = dg[j] = T(0);
  }
  if (dc)
    for (std::int64_t j = 0; j < u; ++j) dg[j] += dc[j];
  if (dc_prev)
    for (std::int64_t j = 0; j < u; ++j) dc_prev[j] += dg[j] * f[j];
  if (c_prev) {
    for (std::int64_t j = 0; j < u; ++j) df[j] = dg[j] * c_prev[j] * f[j] * (T(1) - f[j]);
  } else {
    for (std::int64_t j = 0; j < u; ++j) df[j] = T(0);
  }
  for (std::int64_t j = 0; j < u; ++j) {
    const T dct = dg[j];
    di[j] = dct * g[j] * i[j] * (T(1) - i[j]);
    dg[j] = dct * i[j] * (T(1) - g[j] * g[j]);
  }
}

template <bool HasPrev, class T>
void gru_row_forward(const T* __restrict xz, const T* __restrict xr, const T* __restrict xh, T* __restrict z,
                     T* __restrict r, T* __restrict n, T* __restrict hn, const T* __restrict h_prev, T* __restrict h,
                     std::int64_t u) {
  for (std::int64_t j = 0; j < u; ++j) {
    const T zj = sigmoid1(xz[j] + z[j]);
    const T rj = sigmoid1(xr[j] + r[j]);
    const T hc = n[j];
    const T nj = tanh1(xh[j] + rj * hc);
    z[j] = zj, r[j] = rj, n[j] = nj, hn[j] = hc;
    if constexpr (HasPrev)
      h[j] = zj * h_prev[j] + (T(1) - zj) * nj;
    else
      h[j] = (T(1) - zj) * nj;
  }
}

template <bool HasPrev, class T>
void gru_row_backward(const T* __restrict z, const T* __restrict r, const T* __restrict n, const T* __restrict hn,
                      const T* __restrict h_prev, const T* __restrict dh, T* __restrict dxz, T* __restrict dxr,
                      T* __restrict dxh, T* __restrict dhz, T* __restrict dhr, T* __restrict dhh, std::int64_t u) {
  for (std::int64_t j = 0; j < u; ++j) {
    T hp = T(0);
    if constexpr (HasPrev) hp = h_prev[j];
    const T an = dh[j] * (T(1) - z[j]) * (T(1) - n[j] * n[j]);  // at tanh's input xh + r hn
    const T az = dh[j] * (hp - n[j]) * z[j] * (T(1) - z[j]);
    const T ar = an * hn[j] * r[j] * (T(1) - r[j]);
    dxz[j] = az, dxr[j] = ar, dxh[j] = an;
    dhz[j] = az, dhr[j] = ar, dhh[j] = an * r[j];
  }
}
}  // namespace detail

// float blocks on explicit vectors (AVX2: eight lanes, AVX-512: sixteen), where they beat the
// compiler's loops above (which of the four kernels, and why, at BackwardLanes below). The
// vectors run over the b x u values of a block as one stream: a vector that crosses the end of
// a row takes its last lanes from the start of the next one, through a second masked load and
// store (rows may be further apart than u, and the blocks of one row are interleaved), so no
// lane idles but in the block's last vector: u = 20 and b = 32 is 40 vectors of sixteen, where
// the compiler's loop takes 8 + 8 + 4 lanes a row (96 vectors). Where u is narrower than a
// vector, each row is one masked vector. Masked lanes are neither read nor written, so nothing
// outside the rows is touched. LSTM backward makes one pass per vector where the scalar rows
// make five.
//
// The arithmetic is the scalar rows', expression for expression, on lanes (sigmoid_lanes and
// tanh_lanes are sigmoid_f32 and tanh_f32 lane by lane), and where the compiler contracts a
// product and a sum of the scalar rows into one FMA on these paths (it does for C++ even in ISO
// mode), the vectors call fmadd there and only there, so each lane's bits are the scalar loop's
// on the same path (tests/ops/gated_kernel_test.cpp).
#if defined(__AVX2__)
namespace detail {
/// One vector of the stream: n1 lanes of row r from column c, then n2 lanes from the start of
/// row r + 1. load and store take the block at p (row 0, column 0) with rows ld apart; the lanes
/// of row r + 1 are at (r + 1) ld - n1 + lane, that is at the first part's address + ld - u.
/// Kind says which of three a vector is, so that each loop body is compiled for each without a
/// branch per load and store: kWhole (all lanes in row r), kPart (n1 < width lanes, the last
/// vector of the block or of a narrow row) or kAcross (the vector crosses into row r + 1).
enum Kind { kWhole, kPart, kAcross };

template <int K>
struct Lanes8 {  // masks as vectors, through vmaskmovps
  using V = f32x8;
  static constexpr std::int64_t width = 8;
  std::int64_t r, c, u;
  __m256i m1, m2;
  Lanes8(std::int64_t r_, std::int64_t c_, std::int64_t u_, std::int64_t n1, std::int64_t n2) : r(r_), c(c_), u(u_) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n1)), lane);
    m2 = _mm256_andnot_si256(m1, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n1 + n2)), lane));
  }
  V load(const float* p, std::int64_t ld) const {
    const float* a = p + r * ld + c;
    if constexpr (K == kWhole) return reinterpret_cast<V>(_mm256_loadu_ps(a));
    const __m256 v = _mm256_maskload_ps(a, m1);
    if constexpr (K == kPart) return reinterpret_cast<V>(v);
    return reinterpret_cast<V>(_mm256_or_ps(v, _mm256_maskload_ps(a + (ld - u), m2)));
  }
  void store(float* p, std::int64_t ld, V v) const {
    float* a = p + r * ld + c;
    if constexpr (K == kWhole) {
      _mm256_storeu_ps(a, reinterpret_cast<__m256>(v));
    } else {
      _mm256_maskstore_ps(a, m1, reinterpret_cast<__m256>(v));
      if constexpr (K == kAcross) _mm256_maskstore_ps(a + (ld - u), m2, reinterpret_cast<__m256>(v));
    }
  }
};
inline f32x8 fmadd(f32x8 a, f32x8 b, f32x8 c) {
  return reinterpret_cast<f32x8>(
      _mm256_fmadd_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(b), reinterpret_cast<__m256>(c)));
}
inline f32x8 one_minus_square(f32x8 a) {  // 1 - a a in one rounding
  return reinterpret_cast<f32x8>(
      _mm256_fnmadd_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(a), _mm256_set1_ps(1.0f)));
}

#if defined(__AVX512F__)
/// The same with f32x16 and masks in mask registers.
template <int K>
struct Lanes16 {
  using V = f32x16;
  static constexpr std::int64_t width = 16;
  std::int64_t r, c, u;
  __mmask16 m1, m2;
  Lanes16(std::int64_t r_, std::int64_t c_, std::int64_t u_, std::int64_t n1, std::int64_t n2)
      : r(r_),
        c(c_),
        u(u_),
        m1(static_cast<__mmask16>((1u << n1) - 1u)),
        m2(static_cast<__mmask16>(((1u << (n1 + n2)) - 1u) & ~((1u << n1) - 1u))) {}
  V load(const float* p, std::int64_t ld) const {
    const float* a = p + r * ld + c;
    if constexpr (K == kWhole) return reinterpret_cast<V>(_mm512_loadu_ps(a));
    const __m512 v = _mm512_maskz_loadu_ps(m1, a);
    if constexpr (K == kPart) return reinterpret_cast<V>(v);
    return reinterpret_cast<V>(_mm512_mask_loadu_ps(v, m2, a + (ld - u)));
  }
  void store(float* p, std::int64_t ld, V v) const {
    float* a = p + r * ld + c;
    if constexpr (K == kWhole) {
      _mm512_storeu_ps(a, reinterpret_cast<__m512>(v));
    } else {
      _mm512_mask_storeu_ps(a, m1, reinterpret_cast<__m512>(v));
      if constexpr (K == kAcross) _mm512_mask_storeu_ps(a + (ld - u), m2, reinterpret_cast<__m512>(v));
    }
  }
};
inline f32x16 fmadd(f32x16 a, f32x16 b, f32x16 c) {  // zero-masked under a full mask: see gemm.cpp's Simd
  return reinterpret_cast<f32x16>(_mm512_maskz_fmadd_ps(0xffff, reinterpret_cast<__m512>(a),
                                                        reinterpret_cast<__m512>(b), reinterpret_cast<__m512>(c)));
}
inline f32x16 one_minus_square(f32x16 a) {
  return reinterpret_cast<f32x16>(
      _mm512_maskz_fnmadd_ps(0xffff, reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(a), _mm512_set1_ps(1.0f)));
}
#endif

/// Calls body(lanes) for each vector of the stream of b rows of u values. The body is taken
/// by value: a closure behind a reference could be any memory to the compiler, and since the
/// intrinsics' unaligned stores may alias anything, it would reload every capture and lane
/// field after each store (about forty scalar instructions a vector, on the ports the FMAs use).
template <template <int> class Lanes, class Body>
inline void for_vectors(std::int64_t b, std::int64_t u, Body body) {
  constexpr std::int64_t W = Lanes<kWhole>::width;
  if (u < W) {  // a vector would cross more than one row's end
    for (std::int64_t r = 0; r < b; ++r) body(Lanes<kPart>(r, 0, u, u, 0));
    return;
  }
  std::int64_t r = 0, c = 0;
  for (std::int64_t i = 0; i < b * u; i += W) {
    const std::int64_t n1 = u - c < W ? u - c : W;
    if (n1 == W)
      body(Lanes<kWhole>(r, c, u, W, 0));
    else if (r + 1 < b)
      body(Lanes<kAcross>(r, c, u, n1, W - n1));
    else
      body(Lanes<kPart>(r, c, u, n1, 0));
    c += W;
    if (c >= u) c -= u, ++r;
  }
}

// The forward kernels make two passes over the stream, so that the chain of transcendentals in
// a vector (sigmoid or tanh into the next tanh: about 120 cycles of latency in about 130
// instructions) does not leave the out-of-order window holding one vector at a time: LSTM takes
// the four activations, then reads them back for the cell and tanh of it; GRU takes r, then z,
// the candidate and h. Each pass reads back exactly what the other stored, so the values are
// the same. Which split, from BM_GateKernels (docs/performance.md, "LSTM and GRU steps"): GRU's
// r alone first ran 25 % faster than one pass, its z and r first 19 % slower; LSTM's o moved
// into the second pass was 20 % slower, the four gates first 4-10 % faster.
template <template <int> class Lanes, bool HasPrev>
void lstm_forward_vectors(float* gates, const float* c_prev, float* c, float* h, std::int64_t b, std::int64_t u) {
  const std::int64_t lg = 5 * u;
  for_vectors<Lanes>(b, u, [=](const auto& l) {
    l.store(gates, lg, sigmoid_lanes(l.load(gates, lg)));
    l.store(gates + u, lg, sigmoid_lanes(l.load(gates + u, lg)));
    l.store(gates + 2 * u, lg, tanh_lanes(l.load(gates + 2 * u, lg)));
    l.store(gates + 3 * u, lg, sigmoid_lanes(l.load(gates + 3 * u, lg)));
  });
  for_vectors<Lanes>(b, u, [=](const auto& l) {
    using V = typename std::decay_t<decltype(l)>::V;
    const V ij = l.load(gates, lg), gj = l.load(gates + 2 * u, lg);
    V cj = ij * gj;
    if constexpr (HasPrev) cj = fmadd(ij, gj, l.load(gates + u, lg) * l.load(c_prev, u));
    const V t = tanh_lanes(cj);
    l.store(gates + 4 * u, lg, t);
    l.store(c, u, cj);
    l.store(h, u, l.load(gates + 3 * u, lg) * t);
  });
}

template <template <int> class Lanes>
void lstm_backward_vectors(const float* gates, const float* c_prev, const float* dh, const float* dc, float* dz,
                           float* dc_prev, std::int64_t b, std::int64_t u, std::int64_t ldz) {
  const std::int64_t lg = 5 * u;
  for_vectors<Lanes>(b, u, [=](const auto& l) {
    using V = typename std::decay_t<decltype(l)>::V;
    const V ij = l.load(gates, lg), fj = l.load(gates + u, lg), gj = l.load(gates + 2 * u, lg),
            oj = l.load(gates + 3 * u, lg), tc = l.load(gates + 4 * u, lg);
    V dout = V{}, dct = V{};  // dct: dc_total, the gradient of c through both of its uses
    if (dh) {
      const V dhj = l.load(dh, u);
      dout = dhj * tc * oj * (1.0f - oj);
      dct = dhj * oj * one_minus_square(tc);
      // The scalar rows store this product and add dc in a later pass: kept rounded here too,
      // or the compiler, which contracts a * b + c on these paths, could fuse it with dc.
      asm("" : "+v"(dct));
    }
    if (dc) dct += l.load(dc, u);
    if (dc_prev) l.store(dc_prev, u, fmadd(dct, fj, l.load(dc_prev, u)));
    const V df = c_prev ? dct * l.load(c_prev, u) * fj * (1.0f - fj) : V{};
    l.store(dz, ldz, dct * gj * ij * (1.0f - ij));
    l.store(dz + u, ldz, df);
    l.store(dz + 2 * u, ldz, dct * ij * one_minus_square(gj));
    l.store(dz + 3 * u, ldz, dout);
  });
}

template <template <int> class Lanes, bool HasPrev>
void gru_forward_vectors(const float* xw, std::int64_t ldx, float* gates, const float* h_prev, float* h, std::int64_t b,
                         std::int64_t u) {
  const std::int64_t lg = 4 * u;
  for_vectors<Lanes>(
      b, u, [=](const auto& l) { l.store(gates + u, lg, sigmoid_lanes(l.load(xw + u, ldx) + l.load(gates + u, lg))); });
  for_vectors<Lanes>(b, u, [=](const auto& l) {
    using V = typename std::decay_t<decltype(l)>::V;
    const V zj = sigmoid_lanes(l.load(xw, ldx) + l.load(gates, lg));
    const V hc = l.load(gates + 2 * u, lg);
    const V nj = tanh_lanes(fmadd(l.load(gates + u, lg), hc, l.load(xw + 2 * u, ldx)));
    l.store(gates, lg, zj), l.store(gates + 2 * u, lg, nj);
    l.store(gates + 3 * u, lg, hc);
    if constexpr (HasPrev)
      l.store(h, u, fmadd(zj, l.load(h_prev, u), (1.0f - zj) * nj));
    else
      l.store(h, u, (1.0f - zj) * nj);
  });
}

// Which kernels take which vectors, as measured on an AVX-512 Xeon (docs/performance.md, "LSTM
// and GRU steps"): both forward kernels take eight lanes on v3 and v4 (sixteen ran them slower:
// the division and the arithmetic bind them, not the lane count); LSTM backward takes sixteen
// lanes on v4 and eight on v3. GRU backward keeps the compiler's loop on every path: on eight
// lanes it was no faster, and on sixteen, though faster alone, it made GRU training slower.
#if defined(__AVX512F__)
template <int K>
using BackwardLanes = Lanes16<K>;
#else
template <int K>
using BackwardLanes = Lanes8<K>;
#endif
}  // namespace detail
#endif

/// LSTM forward. `gates` [b, 5u] holds on entry the pre-activations z = x W + b + h_prev U in its
/// first 4u columns (gates i, f, c, o); on exit the activations i = sigmoid, f = sigmoid,
/// g = tanh, o = sigmoid and, in the last u columns, tanh(c). Writes c = f c_prev + i g and
/// h = o tanh(c) ([b, u] each); c_prev may be null (zeros).
template <class T>
void lstm_gates_forward(T* gates, const T* c_prev, T* c, T* h, std::int64_t b, std::int64_t u) {
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    if (c_prev)
      detail::lstm_forward_vectors<detail::Lanes8, true>(gates, c_prev, c, h, b, u);
    else
      detail::lstm_forward_vectors<detail::Lanes8, false>(gates, c_prev, c, h, b, u);
    return;
  }
#endif
  for (std::int64_t r = 0; r < b; ++r) {
    T* z = gates + r * 5 * u;
    if (c_prev)
      detail::lstm_row_forward<true>(z, z + u, z + 2 * u, z + 3 * u, z + 4 * u, c_prev + r * u, c + r * u, h + r * u,
                                     u);
    else
      detail::lstm_row_forward<false, T>(z, z + u, z + 2 * u, z + 3 * u, z + 4 * u, nullptr, c + r * u, h + r * u, u);
  }
}

/// LSTM backward, from the activations `gates` [b, 5u] of lstm_gates_forward. dh and dc, the
/// gradients of h and c ([b, u]), may be null (none reached them). Writes dz [b, 4u] (rows
/// `ldz` apart; 0 means 4u), the gradient of the pre-activations, and adds f * dc_total into
/// dc_prev when it is not null. c_prev null means zeros.
template <class T>
void lstm_gates_backward(const T* gates, const T* c_prev, const T* dh, const T* dc, T* dz, T* dc_prev, std::int64_t b,
                         std::int64_t u, std::int64_t ldz) {
  if (ldz == 0) ldz = 4 * u;
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    detail::lstm_backward_vectors<detail::BackwardLanes>(gates, c_prev, dh, dc, dz, dc_prev, b, u, ldz);
    return;
  }
#endif
  auto row = [u](auto* p, std::int64_t r) { return p ? p + r * u : nullptr; };
  for (std::int64_t r = 0; r < b; ++r) {
    const T* g = gates + r * 5 * u;
    T* d = dz + r * ldz;
    detail::lstm_row_backward(g, g + u, g + 2 * u, g + 3 * u, g + 4 * u, row(c_prev, r), row(dh, r), row(dc, r), d,
                              d + u, d + 2 * u, d + 3 * u, row(dc_prev, r), u);
  }
}

/// GRU forward (reset_after, Keras' default in TF2 and PyTorch's math). `xw` rows hold
/// x W + b_input for the gates z, r, h ([b, 3u], rows `ldx` apart). `gates` [b, 4u] holds on
/// entry hu = h_prev U + b_recurrent in its first 3u columns; on exit z, r, n and, in the last u
/// columns, hu's candidate part hn (which backward needs). Writes
/// n = tanh(xh + r hn) and h = z h_prev + (1 - z) n ([b, u]); h_prev may be null (zeros).
template <class T>
void gru_gates_forward(const T* xw, std::int64_t ldx, T* gates, const T* h_prev, T* h, std::int64_t b, std::int64_t u) {
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    if (h_prev)
      detail::gru_forward_vectors<detail::Lanes8, true>(xw, ldx, gates, h_prev, h, b, u);
    else
      detail::gru_forward_vectors<detail::Lanes8, false>(xw, ldx, gates, h_prev, h, b, u);
    return;
  }
#endif
  for (std::int64_t r = 0; r < b; ++r) {
    const T* x = xw + r * ldx;
    T* g = gates + r * 4 * u;
    if (h_prev)
      detail::gru_row_forward<true>(x, x + u, x + 2 * u, g, g + u, g + 2 * u, g + 3 * u, h_prev + r * u, h + r * u, u);
    else
      detail::gru_row_forward<false, T>(x, x + u, x + 2 * u, g, g + u, g + 2 * u, g + 3 * u, nullptr, h + r * u, u);
  }
}

/// GRU backward, from the `gates` [b, 4u] of gru_gates_forward and dh [b, u]. Writes dx [b, 3u]
/// (the gradient of x W + b_input) and dhu [b, 3u] (of h_prev U + b_recurrent), both with rows
/// `ld` apart (0 means 3u), and adds z * dh into dh_prev when it is not null. h_prev, with rows
/// `ld_h` apart (0 means u), null means zeros.
template <class T>
void gru_gates_backward(const T* gates, const T* h_prev, const T* dh, T* dx, T* dhu, T* dh_prev, std::int64_t b,
                        std::int64_t u, std::int64_t ld, std::int64_t ld_h) {
  if (ld == 0) ld = 3 * u;
  if (ld_h == 0) ld_h = u;
  for (std::int64_t r = 0; r < b; ++r) {
    const T* g = gates + r * 4 * u;
    T* x = dx + r * ld;
    T* hu = dhu + r * ld;
    const T* d = dh + r * u;
    if (h_prev)
      detail::gru_row_backward<true>(g, g + u, g + 2 * u, g + 3 * u, h_prev + r * ld_h, d, x, x + u, x + 2 * u, hu,
                                     hu + u, hu + 2 * u, u);
    else
      detail::gru_row_backward<false, T>(g, g + u, g + 2 * u, g + 3 * u, nullptr, d, x, x + u, x + 2 * u, hu, hu + u,
                                         hu + 2 * u, u);
  }
  if (dh_prev)
    for (std::int64_t r = 0; r < b; ++r)
      for (std::int64_t j = 0; j < u; ++j) dh_prev[r * u + j] += dh[r * u + j] * gates[r * 4 * u + j];
}

}  // namespace tg::kernels::TAPEGRAD_KERNEL_NS

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

/// LSTM forward. `gates` [b, 5u] holds on entry the pre-activations z = x W + b + h_prev U in its
/// first 4u columns (gates i, f, c, o); on exit the activations i = sigmoid, f = sigmoid,
/// g = tanh, o = sigmoid and, in the last u columns, tanh(c). Writes c = f c_prev + i g and
/// h = o tanh(c) ([b, u] each); c_prev may be null (zeros).
template <class T>
void lstm_gates_forward(T* gates, const T* c_prev, T* c, T* h, std::int64_t b, std::int64_t u) {
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
  auto row = [u](auto* p, std::int64_t r) { return p ? p + r * u : nullptr; };
  if (ldz == 0) ldz = 4 * u;
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
/// `ld` apart (0 means 3u), and adds z * dh into dh_prev when it is not null. h_prev null means
/// zeros.
template <class T>
void gru_gates_backward(const T* gates, const T* h_prev, const T* dh, T* dx, T* dhu, T* dh_prev, std::int64_t b,
                        std::int64_t u, std::int64_t ld) {
  if (ld == 0) ld = 3 * u;
  for (std::int64_t r = 0; r < b; ++r) {
    const T* g = gates + r * 4 * u;
    T* x = dx + r * ld;
    T* hu = dhu + r * ld;
    const T* d = dh + r * u;
    if (h_prev)
      detail::gru_row_backward<true>(g, g + u, g + 2 * u, g + 3 * u, h_prev + r * u, d, x, x + u, x + 2 * u, hu, hu + u,
                                     hu + 2 * u, u);
    else
      detail::gru_row_backward<false, T>(g, g + u, g + 2 * u, g + 3 * u, nullptr, d, x, x + u, x + 2 * u, hu, hu + u,
                                         hu + 2 * u, u);
  }
  if (dh_prev)
    for (std::int64_t r = 0; r < b; ++r)
      for (std::int64_t j = 0; j < u; ++j) dh_prev[r * u + j] += dh[r * u + j] * gates[r * 4 * u + j];
}

}  // namespace tg::kernels::TAPEGRAD_KERNEL_NS

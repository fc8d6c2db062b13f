#pragma once
/// \file
/// The gate math of one LSTM or GRU time step over plain row-major buffers (no tensors, no
/// tape): everything of a step but its GEMMs, forward and backward. `b` rows (the batch) of `u`
/// units each; a null pointer stands for a zero state (the first step) or a gradient nobody
/// asked for. float32 uses the fast tanh/sigmoid of ops/kernels/unary.h, float64 the C library.

#include <cmath>
#include <cstdint>

#include "ops/kernels/unary.h"

namespace tg::kernels {

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

/// LSTM forward. `gates` [b, 5u] holds on entry the pre-activations z = x W + b + h_prev U in its
/// first 4u columns (gates i, f, c, o); on exit the activations i = sigmoid, f = sigmoid,
/// g = tanh, o = sigmoid and, in the last u columns, tanh(c). Writes c = f c_prev + i g and
/// h = o tanh(c) ([b, u] each); c_prev may be null (zeros).
template <class T>
void lstm_gates_forward(T* gates, const T* c_prev, T* c, T* h, std::int64_t b, std::int64_t u) {
  for (std::int64_t r = 0; r < b; ++r) {
    T* zi = gates + r * 5 * u;
    T* zf = zi + u;
    T* zg = zf + u;
    T* zo = zg + u;
    T* tc = zo + u;
    T* cr = c + r * u;
    T* hr = h + r * u;
    const T* cp = c_prev ? c_prev + r * u : nullptr;
    for (std::int64_t j = 0; j < u; ++j) {
      const T i = detail::sigmoid1(zi[j]), f = detail::sigmoid1(zf[j]);
      const T g = detail::tanh1(zg[j]), o = detail::sigmoid1(zo[j]);
      const T cj = cp ? f * cp[j] + i * g : i * g;
      const T t = detail::tanh1(cj);
      zi[j] = i, zf[j] = f, zg[j] = g, zo[j] = o, tc[j] = t;
      cr[j] = cj;
      hr[j] = o * t;
    }
  }
}

/// LSTM backward, from the activations `gates` [b, 5u] of lstm_gates_forward. dh and dc, the
/// gradients of h and c ([b, u]), may be null (none reached them). Writes dz [b, 4u], the
/// gradient of the pre-activations, and adds f * dc_total into dc_prev when it is not null.
/// c_prev null means zeros.
template <class T>
void lstm_gates_backward(const T* gates, const T* c_prev, const T* dh, const T* dc, T* dz, T* dc_prev,
                         std::int64_t b, std::int64_t u) {
  for (std::int64_t r = 0; r < b; ++r) {
    const T* gi = gates + r * 5 * u;
    const T* gf = gi + u;
    const T* gg = gf + u;
    const T* go = gg + u;
    const T* tc = go + u;
    T* di = dz + r * 4 * u;
    T* df = di + u;
    T* dg = df + u;
    T* dout = dg + u;
    const T* cp = c_prev ? c_prev + r * u : nullptr;
    const T* dhr = dh ? dh + r * u : nullptr;
    const T* dcr = dc ? dc + r * u : nullptr;
    T* dcp = dc_prev ? dc_prev + r * u : nullptr;
    for (std::int64_t j = 0; j < u; ++j) {
      const T i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tc[j];
      const T dhj = dhr ? dhr[j] : T(0);
      const T dct = (dcr ? dcr[j] : T(0)) + dhj * o * (T(1) - t * t);  // through h = o tanh(c)
      di[j] = dct * g * i * (T(1) - i);
      df[j] = cp ? dct * cp[j] * f * (T(1) - f) : T(0);
      dg[j] = dct * i * (T(1) - g * g);
      dout[j] = dhj * t * o * (T(1) - o);
      if (dcp) dcp[j] += dct * f;
    }
  }
}

/// GRU forward (reset_after, Keras' default in TF2 and PyTorch's math). `xw` rows hold
/// x W + b_input for the gates z, r, h ([b, 3u], rows `ldx` apart). `gates` [b, 4u] holds on
/// entry hu = h_prev U + b_recurrent in its first 3u columns; on exit z, r, n and, in the last u
/// columns, hu's candidate part hn (which backward needs). Writes
/// n = tanh(xh + r hn) and h = z h_prev + (1 - z) n ([b, u]); h_prev may be null (zeros).
template <class T>
void gru_gates_forward(const T* xw, std::int64_t ldx, T* gates, const T* h_prev, T* h, std::int64_t b,
                       std::int64_t u) {
  for (std::int64_t r = 0; r < b; ++r) {
    const T* xz = xw + r * ldx;
    const T* xr = xz + u;
    const T* xh = xr + u;
    T* gz = gates + r * 4 * u;
    T* gr = gz + u;
    T* gn = gr + u;
    T* hn = gn + u;
    T* hr = h + r * u;
    const T* hp = h_prev ? h_prev + r * u : nullptr;
    for (std::int64_t j = 0; j < u; ++j) {
      const T z = detail::sigmoid1(xz[j] + gz[j]);
      const T rr = detail::sigmoid1(xr[j] + gr[j]);
      const T hc = gn[j];
      const T n = detail::tanh1(xh[j] + rr * hc);
      gz[j] = z, gr[j] = rr, gn[j] = n, hn[j] = hc;
      hr[j] = hp ? z * hp[j] + (T(1) - z) * n : (T(1) - z) * n;
    }
  }
}

/// GRU backward, from the `gates` [b, 4u] of gru_gates_forward and dh [b, u]. Writes dx [b, 3u]
/// (the gradient of x W + b_input) and dhu [b, 3u] (of h_prev U + b_recurrent), and adds
/// z * dh into dh_prev when it is not null. h_prev null means zeros.
template <class T>
void gru_gates_backward(const T* gates, const T* h_prev, const T* dh, T* dx, T* dhu, T* dh_prev, std::int64_t b,
                        std::int64_t u) {
  for (std::int64_t r = 0; r < b; ++r) {
    const T* gz = gates + r * 4 * u;
    const T* gr = gz + u;
    const T* gn = gr + u;
    const T* hn = gn + u;
    T* dxz = dx + r * 3 * u;
    T* dxr = dxz + u;
    T* dxh = dxr + u;
    T* dhz = dhu + r * 3 * u;
    T* dhr = dhz + u;
    T* dhh = dhr + u;
    const T* hp = h_prev ? h_prev + r * u : nullptr;
    const T* g = dh + r * u;
    T* dhp = dh_prev ? dh_prev + r * u : nullptr;
    for (std::int64_t j = 0; j < u; ++j) {
      const T z = gz[j], rr = gr[j], n = gn[j];
      const T hpj = hp ? hp[j] : T(0);
      const T an = g[j] * (T(1) - z) * (T(1) - n * n);  // at tanh's input xh + r hn
      const T az = g[j] * (hpj - n) * z * (T(1) - z);
      const T ar = an * hn[j] * rr * (T(1) - rr);
      dxz[j] = az, dxr[j] = ar, dxh[j] = an;
      dhz[j] = az, dhr[j] = ar, dhh[j] = an * rr;
      if (dhp) dhp[j] += g[j] * z;
    }
  }
}

}  // namespace tg::kernels

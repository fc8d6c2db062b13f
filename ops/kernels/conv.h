#pragma once
/// \file
/// im2col and col2im for 1-D convolutions over [B, T, F] buffers (no tensors, no tape). A
/// convolution becomes one GEMM: the columns [B*T', K*F] times the kernel [K*F, O], where
///
///     col[b, t, k, f] = x[b, t * stride + k * dilation - pad_left, f]   (0 outside [0, T))
///
/// and col2im adds the columns' gradient back onto x's, the transpose of that gather.

#include <algorithm>
#include <cstdint>

namespace tg::kernels {

/// The geometry of a 1-D convolution: input [batch, steps, features], kernel size `taps`.
struct Conv1dGeometry {
  std::int64_t batch, steps, features, taps;
  std::int64_t stride, dilation, pad_left;
  std::int64_t out_steps;

  /// Output steps t whose tap k reads a real input element: [first, last).
  std::int64_t first_valid(std::int64_t k) const {
    const std::int64_t off = k * dilation - pad_left;  // input index of step 0
    return off >= 0 ? 0 : std::min(out_steps, (-off + stride - 1) / stride);
  }
  std::int64_t last_valid(std::int64_t k) const {
    const std::int64_t off = k * dilation - pad_left;
    if (off >= steps) return 0;
    return std::min(out_steps, (steps - 1 - off) / stride + 1);
  }
};

/// Fills col [batch * out_steps, taps * features] from x [batch, steps, features].
template <class T>
void im2col_1d(const Conv1dGeometry& g, const T* x, T* col) {
  const std::int64_t f = g.features, row = g.taps * f;
  for (std::int64_t b = 0; b < g.batch; ++b) {
    const T* xb = x + b * g.steps * f;
    T* cb = col + b * g.out_steps * row;
    for (std::int64_t k = 0; k < g.taps; ++k) {
      const std::int64_t lo = std::max<std::int64_t>(g.first_valid(k), 0);
      const std::int64_t hi = std::max(g.last_valid(k), lo);
      const std::int64_t off = k * g.dilation - g.pad_left;
      for (std::int64_t t = 0; t < g.out_steps; ++t) {
        T* dst = cb + t * row + k * f;
        if (t < lo || t >= hi) {
          std::fill(dst, dst + f, T(0));
        } else {
          const T* src = xb + (t * g.stride + off) * f;
          std::copy(src, src + f, dst);
        }
      }
    }
  }
}

/// dx [batch, steps, features] += the columns' gradient dcol [batch * out_steps, taps * features]
/// scattered back to the elements they were gathered from.
template <class T>
void col2im_1d_add(const Conv1dGeometry& g, const T* dcol, T* dx) {
  const std::int64_t f = g.features, row = g.taps * f;
  for (std::int64_t b = 0; b < g.batch; ++b) {
    T* xb = dx + b * g.steps * f;
    const T* cb = dcol + b * g.out_steps * row;
    for (std::int64_t k = 0; k < g.taps; ++k) {
      const std::int64_t lo = g.first_valid(k), hi = g.last_valid(k);
      const std::int64_t off = k * g.dilation - g.pad_left;
      for (std::int64_t t = lo; t < hi; ++t) {
        const T* src = cb + t * row + k * f;
        T* dst = xb + (t * g.stride + off) * f;
        for (std::int64_t j = 0; j < f; ++j) dst[j] += src[j];
      }
    }
  }
}

}  // namespace tg::kernels

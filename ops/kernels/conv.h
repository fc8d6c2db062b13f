#pragma once
/// \file
/// im2col and col2im for 1-D convolutions over [B, T, F] buffers (no tensors, no tape). A
/// convolution becomes one GEMM: the columns [B*T', K*F] times the kernel [K*F, O], where
///
///     col[b, t, k, f] = x[b, t * stride + k * dilation - pad_left, f]   (0 outside [0, T))
///
/// and col2im adds the columns' gradient back onto x's, the transpose of that gather. The loops
/// are conv_isa.h, compiled once per instruction-set path and chosen at run time (dispatch.h).

#include <algorithm>
#include <cstdint>

#include <tapegrad/ops/kernels/dispatch.h>

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
  detail::active_of<T>().im2col_1d(g, x, col);
}

/// dx [batch, steps, features] += the columns' gradient dcol [batch * out_steps, taps * features]
/// scattered back to the elements they were gathered from.
template <class T>
void col2im_1d_add(const Conv1dGeometry& g, const T* dcol, T* dx) {
  detail::active_of<T>().col2im_1d_add(g, dcol, dx);
}

}  // namespace tg::kernels

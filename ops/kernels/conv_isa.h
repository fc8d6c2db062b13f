#pragma once
/// \file
/// One instruction set's copy of the kernels of conv.h (compiled once per path, see
/// ops/kernels/README.md): im2col and col2im for 1-D convolutions over [B, T, F] buffers (no tensors, no tape). A
/// convolution becomes one GEMM: the columns [B*T', K*F] times the kernel [K*F, O], where
///
///     col[b, t, k, f] = x[b, t * stride + k * dilation - pad_left, f]   (0 outside [0, T))
///
/// and col2im adds the columns' gradient back onto x's, the transpose of that gather.

#include <algorithm>
#include <cstdint>

#include <tapegrad/ops/kernels/conv.h>
#include <tapegrad/ops/kernels/isa_ns.h>

namespace tg::kernels::TAPEGRAD_KERNEL_NS {

namespace detail {
// Conv1dGeometry's first_valid and last_valid, here in this instruction set's namespace: the
// struct's own inline members, if not inlined, would be emitted by every copy under one name,
// and the linker could take this copy's for the baseline code (see ops/kernels/README.md).
inline std::int64_t first_valid(const Conv1dGeometry& g, std::int64_t k) {
  const std::int64_t off = k * g.dilation - g.pad_left;  // input index of step 0
  return off >= 0 ? 0 : std::min(g.out_steps, (-off + g.stride - 1) / g.stride);
}
inline std::int64_t last_valid(const Conv1dGeometry& g, std::int64_t k) {
  const std::int64_t off = k * g.dilation - g.pad_left;
  if (off >= g.steps) return 0;
  return std::min(g.out_steps, (g.steps - 1 - off) / g.stride + 1);
}
}  // namespace detail

/// Fills col [batch * out_steps, taps * features] from x [batch, steps, features].
template <class T>
void im2col_1d(const Conv1dGeometry& g, const T* x, T* col) {
  const std::int64_t f = g.features, row = g.taps * f;
  for (std::int64_t b = 0; b < g.batch; ++b) {
    const T* xb = x + b * g.steps * f;
    T* cb = col + b * g.out_steps * row;
    for (std::int64_t k = 0; k < g.taps; ++k) {
      const std::int64_t lo = std::max<std::int64_t>(detail::first_valid(g, k), 0);
      const std::int64_t hi = std::max(detail::last_valid(g, k), lo);
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
      const std::int64_t lo = detail::first_valid(g, k), hi = detail::last_valid(g, k);
      const std::int64_t off = k * g.dilation - g.pad_left;
      for (std::int64_t t = lo; t < hi; ++t) {
        const T* src = cb + t * row + k * f;
        T* dst = xb + (t * g.stride + off) * f;
        for (std::int64_t j = 0; j < f; ++j) dst[j] += src[j];
      }
    }
  }
}

}  // namespace tg::kernels::TAPEGRAD_KERNEL_NS

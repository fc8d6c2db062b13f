#pragma once
/// \file
/// Copies and sums of row blocks between buffers with different row strides (a time step's rows
/// inside a [batch, time, features] tensor). No tensors, no tape. The loops are rows_isa.h,
/// compiled once per instruction-set path and chosen at run time (dispatch.h): these entry
/// points call the active path's copy. float and double.

#include <cstddef>
#include <cstdint>

#include <tapegrad/ops/kernels/dispatch.h>

namespace tg::kernels {

/// Row i of dst = row idx[i] of src, for i < count (rows of `row_bytes` bytes, dst dense): a
/// minibatch gathered from a dataset, the rows' cache misses overlapped by prefetching two rows
/// ahead (rows_isa.h).
inline void gather_rows(const void* src, std::size_t row_bytes, const std::int64_t* idx, std::int64_t count,
                        void* dst) {
  detail::active().gather_rows(src, row_bytes, idx, count, dst);
}

/// dst[i * dst_stride + j] = src[i * src_stride + j] for i < rows, j < cols.
template <class T>
inline void copy_rows(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride, std::int64_t rows,
                      std::int64_t cols) {
  detail::active_of<T>().copy_rows(src, src_stride, dst, dst_stride, rows, cols);
}

/// dst[i * dst_stride + j] += src[i * src_stride + j] for i < rows, j < cols.
template <class T>
inline void add_rows(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride, std::int64_t rows,
                     std::int64_t cols) {
  detail::active_of<T>().add_rows(src, src_stride, dst, dst_stride, rows, cols);
}

/// copy_rows for a gradient's first contribution (`add` false: the destination is not yet
/// initialised), add_rows for the later ones (BackwardContext::grad_target's `first`, negated).
template <class T>
inline void copy_or_add_rows(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride, std::int64_t rows,
                             std::int64_t cols, bool add) {
  const auto& k = detail::active_of<T>();
  (add ? k.add_rows : k.copy_rows)(src, src_stride, dst, dst_stride, rows, cols);
}

/// copy_rows from a dense block: dst[i * dst_stride + j] = src[i * cols + j], the source read in
/// whole vectors from its start, each stored to the one or two rows it covers (rows_isa.h).
template <class T>
inline void spread_rows(const T* src, T* dst, std::int64_t dst_stride, std::int64_t rows, std::int64_t cols) {
  detail::active_of<T>().spread_rows(src, dst, dst_stride, rows, cols);
}

/// Row i of dst = f(a, b) over row i of the dense block a [rows, cols] and row i of b, value by
/// value, the rows of b and dst both `stride` apart, for any functor f of two T: a plain loop in
/// the caller's (baseline) code. The hot cases have named, vectorised and dispatched forms
/// (unary.h's tanh_grad_rows).
template <class T, class F>
inline void map2_rows(const T* a, const T* b, T* dst, std::int64_t stride, std::int64_t rows, std::int64_t cols, F f) {
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) dst[i * stride + j] = f(a[i * cols + j], b[i * stride + j]);
}

/// dst[j] += sum_i src[i * src_stride + j] for j < cols (a bias gradient: the column sums of dY;
/// linear, conv1d, the gated steps, layer norm), summed in registers with several partial sums
/// per column (rows_isa.h).
template <class T>
inline void add_column_sums(const T* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, T* dst) {
  detail::active_of<T>().add_column_sums(src, src_stride, rows, cols, dst);
}

/// The sum of (p[i] - t[i])^2 over i < n, in double (a squared-error loss; eight partial sums
/// added in order: the same bits on every path).
template <class T>
inline double squared_error_sum(const T* p, const T* t, std::int64_t n) {
  return detail::active_of<T>().squared_error_sum(p, t, n);
}

/// d[i] = s (p[i] - t[i]) for i < n, or += with `add` (that loss's gradient).
template <class T>
inline void scaled_difference(T s, const T* p, const T* t, T* d, std::int64_t n, bool add) {
  detail::active_of<T>().scaled_difference(s, p, t, d, n, add);
}

}  // namespace tg::kernels

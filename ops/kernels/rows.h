#pragma once
/// \file
/// Copies and sums of row blocks between buffers with different row strides (a time step's rows
/// inside a [batch, time, features] tensor). No tensors, no tape.
///
/// The rows are short (a hidden size of 20 is 80 bytes): written as plain loops, GCC would turn
/// each row's copy into a call to memcpy, which costs more than the copy itself at these sizes,
/// hence the attribute.

#include <cstdint>

namespace tg::kernels {

#if defined(__GNUC__) && !defined(__clang__)
#define TAPEGRAD_NO_MEMCPY_IDIOM [[gnu::optimize("no-tree-loop-distribute-patterns")]]
#else
#define TAPEGRAD_NO_MEMCPY_IDIOM  // clang has no such attribute (only the fuzzing build uses clang)
#endif

/// dst[i * dst_stride + j] = src[i * src_stride + j] for i < rows, j < cols.
template <class T>
TAPEGRAD_NO_MEMCPY_IDIOM inline void copy_rows(const T* src, std::int64_t src_stride,
                                                                         T* dst, std::int64_t dst_stride,
                                                                         std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* s = src + i * src_stride;
    T* d = dst + i * dst_stride;
    for (std::int64_t j = 0; j < cols; ++j) d[j] = s[j];
  }
}

/// dst[i * dst_stride + j] += src[i * src_stride + j] for i < rows, j < cols.
template <class T>
inline void add_rows(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride, std::int64_t rows,
                     std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* s = src + i * src_stride;
    T* d = dst + i * dst_stride;
    for (std::int64_t j = 0; j < cols; ++j) d[j] += s[j];
  }
}

/// dst[j] += sum_i src[i * src_stride + j] for j < cols, each column summed over the rows in
/// order (a bias gradient: the column sums of dY; linear, conv1d, the gated steps, layer norm).
template <class T>
inline void add_column_sums(const T* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, T* dst) {
  constexpr std::int64_t kChunk = 64;  // columns summed at once, in a local buffer nothing aliases
  for (std::int64_t j0 = 0; j0 < cols; j0 += kChunk) {
    const std::int64_t w = cols - j0 < kChunk ? cols - j0 : kChunk;
    T acc[kChunk] = {};
    for (std::int64_t i = 0; i < rows; ++i) {
      const T* s = src + i * src_stride + j0;
      for (std::int64_t j = 0; j < w; ++j) acc[j] += s[j];
    }
    for (std::int64_t j = 0; j < w; ++j) dst[j0 + j] += acc[j];
  }
}

}  // namespace tg::kernels

#undef TAPEGRAD_NO_MEMCPY_IDIOM

#pragma once
/// \file
/// Elementwise loops over contiguous buffers (no tensors, no tape): tanh and sigmoid, forward and
/// backward. float32 tanh and sigmoid use branch-free approximations accurate to a few ulp
/// (tested against std:: in tests/ops/fast_math_test.cpp); float64 keeps the C library's
/// functions, so gradient checks run on exact math. The loops are unary_isa.h, compiled once
/// per instruction-set path and chosen at run time (dispatch.h).

#include <cstdint>

#include <tapegrad/ops/kernels/dispatch.h>

namespace tg::kernels {

/// y = tanh(x) (x and y may alias).
template <class T>
inline void tanh_forward(const T* x, T* y, std::int64_t n) {
  detail::active_of<T>().tanh_forward(x, y, n);
}

/// y = tanh(x) for a dense block of `rows` x `cols` (y may alias x), and the same values into rows
/// `dst_stride` apart at dst (rows.h's spread_rows): a recurrent step's output and its row of the
/// sequence in one pass, whose stores into the sequence overlap with tanh's arithmetic.
template <class T>
inline void tanh_forward_spread(const T* x, T* y, T* dst, std::int64_t dst_stride, std::int64_t rows,
                                std::int64_t cols) {
  detail::active_of<T>().tanh_forward_spread(x, y, dst, dst_stride, rows, cols);
}

/// Rows of dst = dy * (1 - y^2) over the dense block dy [rows, cols] and the rows of y, y's and
/// dst's rows `stride` apart: tanh's input gradient from its output, a recurrent step's dz_t from
/// h_t in the sequence buffer into the same rows of a [B,T,H] buffer.
template <class T>
inline void tanh_grad_rows(const T* dy, const T* y, T* dst, std::int64_t stride, std::int64_t rows, std::int64_t cols) {
  detail::active_of<T>().tanh_grad_rows(dy, y, dst, stride, rows, cols);
}

/// dx += dy * (1 - y^2), from tanh's output y.
template <class T>
inline void tanh_backward(const T* y, const T* dy, T* dx, std::int64_t n) {
  detail::active_of<T>().tanh_backward(y, dy, dx, n);
}

/// g *= 1 - y^2: a gradient turned into tanh's input gradient in place, from tanh's output y.
template <class T>
inline void tanh_grad_inplace(const T* y, T* g, std::int64_t n) {
  detail::active_of<T>().tanh_grad_inplace(y, g, n);
}

/// y = 1 / (1 + exp(-x)), stable for large |x| (x and y may alias).
template <class T>
inline void sigmoid_forward(const T* x, T* y, std::int64_t n) {
  detail::active_of<T>().sigmoid_forward(x, y, n);
}

/// dx += dy * y * (1 - y), from sigmoid's output y.
template <class T>
inline void sigmoid_backward(const T* y, const T* dy, T* dx, std::int64_t n) {
  detail::active_of<T>().sigmoid_backward(y, dy, dx, n);
}

/// g *= y (1 - y): the same for sigmoid.
template <class T>
inline void sigmoid_grad_inplace(const T* y, T* g, std::int64_t n) {
  detail::active_of<T>().sigmoid_grad_inplace(y, g, n);
}

}  // namespace tg::kernels

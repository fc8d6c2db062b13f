#pragma once
/// \file
/// Elementwise loops over contiguous buffers (no tensors, no tape). The compiler vectorises them.

#include <cmath>
#include <cstdint>

namespace tg::kernels {

/// y = tanh(x).
template <class T>
void tanh_forward(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

/// dx += dy * (1 - y^2), from tanh's output y.
template <class T>
void tanh_backward(const T* y, const T* dy, T* dx, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] += dy[i] * (T(1) - y[i] * y[i]);
}

/// y = 1 / (1 + exp(-x)), stable for large |x|.
template <class T>
void sigmoid_forward(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (x[i] >= 0) {
      y[i] = T(1) / (T(1) + std::exp(-x[i]));
    } else {
      T e = std::exp(x[i]);
      y[i] = e / (T(1) + e);
    }
  }
}

/// dx += dy * y * (1 - y), from sigmoid's output y.
template <class T>
void sigmoid_backward(const T* y, const T* dy, T* dx, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] += dy[i] * y[i] * (T(1) - y[i]);
}

}  // namespace tg::kernels

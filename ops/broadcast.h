#pragma once
/// \file
/// numpy broadcasting for the elementwise families: the result shape of two operands, a driver
/// that runs a binary functor over broadcast operands, and `sum_to`, which folds a gradient back
/// onto the shape of a broadcast operand.

#include <tapegrad/core/config.h>

#include <array>
#include <cstdint>

#include <tapegrad/core/tensor.h>

namespace tg {

/// The broadcast shape of a and b (numpy rules), or a ShapeError naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

/// Sums `g` over the dimensions that broadcasting expanded, giving a tensor of `shape`.
/// Unrecorded (used by backward rules); returns `g` itself when the shapes are equal.
Tensor sum_to(const Tensor& g, const Shape& shape);

/// A new contiguous tensor of `shape` holding `g` broadcast to it (numpy rules), the reverse of
/// `sum_to`. Unrecorded (used by backward rules); ShapeError when `g` does not broadcast to `shape`.
Tensor expand_to(const Tensor& g, const Shape& shape);

/// dst += scale * src broadcast to dst's shape, in place (same dtype). Unrecorded: backward rules
/// use it to add a reduced gradient into an input's gradient buffer without a temporary.
void add_expanded(Tensor& dst, const Tensor& src, double scale = 1.0);

namespace detail {
/// Strides (in elements) of `in` seen through the broadcast `out` shape: 0 on expanded dims.
std::array<std::int64_t, kMaxRank> broadcast_strides(const Shape& in, const Shape& out);

/// out[i] = f(a[ia], b[ib]) over the broadcast index space of `out`.
template <class T, class F>
void broadcast_binary(const Shape& sa, const T* a, const Shape& sb, const T* b, const Shape& so, T* out, F f) {
  const std::int64_t n = so.numel();
  if (n == 0) return;
  if (sa == so && sb == so) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
    return;
  }
  if (sb.numel() == 1 && sa == so) {
    const T bv = b[0];
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
    return;
  }
  if (sa.numel() == 1 && sb == so) {
    const T av = a[0];
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
    return;
  }
  const int rank = so.rank();
  const auto st_a = broadcast_strides(sa, so), st_b = broadcast_strides(sb, so);
  const std::int64_t inner = so[rank - 1];
  const std::int64_t ia = st_a[static_cast<std::size_t>(rank - 1)], ib = st_b[static_cast<std::size_t>(rank - 1)];
  std::array<std::int64_t, kMaxRank> idx{};
  std::int64_t off_a = 0, off_b = 0;
  for (std::int64_t base = 0; base < n; base += inner) {
    for (std::int64_t j = 0; j < inner; ++j) out[base + j] = f(a[off_a + j * ia], b[off_b + j * ib]);
    for (int d = rank - 2; d >= 0; --d) {  // odometer over the outer dimensions
      auto du = static_cast<std::size_t>(d);
      off_a += st_a[du];
      off_b += st_b[du];
      if (++idx[du] < so[d]) break;
      off_a -= st_a[du] * so[d];
      off_b -= st_b[du] * so[d];
      idx[du] = 0;
    }
  }
}
}  // namespace detail

}  // namespace tg

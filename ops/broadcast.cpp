#include "ops/broadcast.h"

#include <fmt/format.h>

namespace tg {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int rank = std::max(a.rank(), b.rank());
  Shape out;
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(fmt::format("{}: shapes {} and {} do not broadcast: dimension {} is {} and {}", op, a,
                                   b, i - rank, da, db));
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

namespace detail {
std::array<std::int64_t, kMaxRank> broadcast_strides(const Shape& in, const Shape& out) {
  std::array<std::int64_t, kMaxRank> st{};
  std::int64_t s = 1;
  for (int i = out.rank() - 1; i >= 0; --i) {
    const int ii = in.rank() - out.rank() + i;
    const std::int64_t d = ii >= 0 ? in[ii] : 1;
    st[static_cast<std::size_t>(i)] = d == 1 ? 0 : s;
    s *= d;
  }
  return st;
}
}  // namespace detail

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const Shape& gs = g.shape();
  if (shape.numel() > gs.numel() || shape.rank() > gs.rank())
    throw ShapeError(fmt::format("sum_to: cannot reduce {} to {}", gs, shape));
  broadcast_shapes(shape, gs, "sum_to");  // validates compatibility
  Tensor out = zeros(shape, g.dtype());
  if (gs.numel() == 0) return out;
  dispatch(g.dtype(), [&]<class T>() {
    const T* src = g.data<T>();
    T* dst = out.data<T>();
    const int rank = gs.rank();
    const auto st = detail::broadcast_strides(shape, gs);
    const std::int64_t inner = gs[rank - 1];
    const std::int64_t is = st[static_cast<std::size_t>(rank - 1)];
    std::array<std::int64_t, kMaxRank> idx{};
    std::int64_t off = 0;
    for (std::int64_t base = 0, n = gs.numel(); base < n; base += inner) {
      if (is == 0) {
        T acc = 0;
        for (std::int64_t j = 0; j < inner; ++j) acc += src[base + j];
        dst[off] += acc;
      } else {
        for (std::int64_t j = 0; j < inner; ++j) dst[off + j] += src[base + j];
      }
      for (int d = rank - 2; d >= 0; --d) {
        auto du = static_cast<std::size_t>(d);
        off += st[du];
        if (++idx[du] < gs[d]) break;
        off -= st[du] * gs[d];
        idx[du] = 0;
      }
    }
  });
  return out;
}

}  // namespace tg

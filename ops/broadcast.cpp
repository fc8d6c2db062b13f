#include <tapegrad/ops/broadcast.h>

#include <fmt/format.h>

namespace tg {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int rank = std::max(a.rank(), b.rank());
  Shape out;
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(
          fmt::format("{}: shapes {} and {} do not broadcast: dimension {} is {} and {}", op, a, b, i - rank, da, db));
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
  // Compare shapes, not element counts: [0,3] does reduce to [1,1].
  if (shape.rank() > gs.rank() || broadcast_shapes(shape, gs, "sum_to") != gs)
    throw ShapeError(fmt::format("sum_to: cannot reduce {} to {}", gs, shape));
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

namespace {
// Throws unless `from` broadcasts to exactly `to`.
void check_expandable(const Shape& from, const Shape& to, const char* op) {
  if (from.rank() > to.rank() || broadcast_shapes(from, to, op) != to)
    throw ShapeError(fmt::format("{}: cannot broadcast {} to {}", op, from, to));
}
}  // namespace

Tensor expand_to(const Tensor& g, const Shape& shape) {
  check_expandable(g.shape(), shape, "expand_to");
  Tensor out = Tensor::empty(shape, g.dtype());
  dispatch(g.dtype(), [&]<class T>() {
    const T* src = g.data<T>();
    detail::broadcast_binary(g.shape(), src, g.shape(), src, shape, out.data<T>(), [](T x, T) { return x; });
  });
  return out;
}

void add_expanded(Tensor& dst, const Tensor& src, double scale) {
  check_expandable(src.shape(), dst.shape(), "add_expanded");
  if (src.dtype() != dst.dtype())
    throw DTypeError(
        fmt::format("add_expanded: source is {}, destination {}", dtype_name(src.dtype()), dtype_name(dst.dtype())));
  dispatch(dst.dtype(), [&]<class T>() {
    T* d = dst.data<T>();
    const auto s = static_cast<T>(scale);
    // In place: each output element reads only its own old value.
    if (scale == 1.0)
      detail::broadcast_binary(dst.shape(), d, src.shape(), src.data<T>(), dst.shape(), d,
                               [](T x, T y) { return x + y; });
    else
      detail::broadcast_binary(dst.shape(), d, src.shape(), src.data<T>(), dst.shape(), d,
                               [s](T x, T y) { return x + s * y; });
  });
}

}  // namespace tg

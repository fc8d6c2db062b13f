#include <tapegrad/ops/shape_ops.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>
#include <tapegrad/ops/broadcast.h>
#include <tapegrad/ops/kernels/rows.h>

namespace tg {

namespace {
using Strides = std::array<std::int64_t, kMaxRank>;

Strides contiguous_strides(const Shape& s) {
  Strides st{};
  std::int64_t n = 1;
  for (int d = s.rank() - 1; d >= 0; --d) {
    st[static_cast<std::size_t>(d)] = n;
    n *= s[d];
  }
  return st;
}

// Calls row(i, off, n, step) for every run along the last dimension of `shape`: contiguous
// elements i .. i+n-1 correspond to offsets off, off+step, ... of a buffer walked with `st`
// (in elements, starting at `base`).
template <class Row>
void for_each_row(const Shape& shape, const Strides& st, std::int64_t base, Row row) {
  const std::int64_t total = shape.numel();
  if (total == 0) return;
  const int rank = shape.rank();
  if (rank == 0) {
    row(std::int64_t{0}, base, std::int64_t{1}, std::int64_t{0});
    return;
  }
  const std::int64_t inner = shape[rank - 1];
  const std::int64_t step = st[static_cast<std::size_t>(rank - 1)];
  std::array<std::int64_t, kMaxRank> idx{};
  std::int64_t off = base;
  for (std::int64_t i = 0; i < total; i += inner) {
    row(i, off, inner, step);
    for (int d = rank - 2; d >= 0; --d) {  // odometer over the outer dimensions
      const auto du = static_cast<std::size_t>(d);
      off += st[du];
      if (++idx[du] < shape[d]) break;
      off -= st[du] * shape[d];
      idx[du] = 0;
    }
  }
}

// How an op's output of shape `output_shape(0)` reads its input: output element at multi-index
// i comes from input offset base + sum(i[d] * st[d]). Permute, slice, select and broadcast_to are
// all such views; their forward gathers and their backward scatters (adds) through it.
struct StridedAttrs {
  Strides st;
  std::int64_t base;
};

Tensor gather(const Tensor& x, const Shape& out_shape, const StridedAttrs& a, const char* op) {
  Tensor out = Tensor::empty(out_shape, x.dtype(), op);
  dispatch(x.dtype(), [&]<class T>() {
    const T* src = x.data<T>();
    T* dst = out.data<T>();
    for_each_row(out_shape, a.st, a.base, [&](std::int64_t i, std::int64_t off, std::int64_t n, std::int64_t step) {
      if (step == 1)
        std::memcpy(dst + i, src + off, static_cast<std::size_t>(n) * sizeof(T));
      else
        for (std::int64_t j = 0; j < n; ++j) dst[i + j] = src[off + j * step];
    });
  });
  return out;
}

void strided_backward(BackwardContext& ctx) {
  const auto& a = ctx.attrs<StridedAttrs>();
  const Tensor& g = ctx.grad_output();
  Tensor& dx = ctx.grad_input(0);
  dispatch(g.dtype(), [&]<class T>() {
    const T* src = g.data<T>();
    T* dst = dx.data<T>();
    for_each_row(ctx.output_shape(0), a.st, a.base,
                 [&](std::int64_t i, std::int64_t off, std::int64_t n, std::int64_t step) {
                   for (std::int64_t j = 0; j < n; ++j) dst[off + j * step] += src[i + j];
                 });
  });
}

Tensor strided_op(const Tensor& x, const Shape& out_shape, const StridedAttrs& a, const char* op) {
  Tensor out = gather(x, out_shape, a, op);
  if (NodeRef node = record(op, &strided_backward, {&x}, out)) node.attrs(a);
  return out;
}

Tensor permute_impl(const Tensor& x, std::span<const int> dims, const char* op) {
  const Shape& in = x.shape();
  const Strides in_st = contiguous_strides(in);
  StridedAttrs a{{}, 0};
  Shape out_shape;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    out_shape.push_back(in[dims[i]]);
    a.st[i] = in_st[static_cast<std::size_t>(dims[i])];
  }
  return strided_op(x, out_shape, a, op);
}

// Reshape and flatten share the elements; the backward views the gradient back.
Tensor reshape_impl(const Tensor& x, const Shape& shape, const char* op) {
  Tensor out = x.view(shape);
  record(
      op,
      [](BackwardContext& ctx) {
        Tensor g = ctx.take_grad_output();
        Tensor v = g.view(ctx.input_shape(0));
        g = Tensor();  // so that v alone holds the buffer and accumulate can take it over
        ctx.accumulate(0, std::move(v));
      },
      {&x}, out);
  return out;
}

// Concat and stack: the output seen as [outer, total, inner] along `axis`; input i covers
// [offset_i, offset_i + size_i) of `total`.
struct JoinAttrs {
  std::int32_t axis;      // in the output
  std::uint32_t n;        // inputs
  std::uint32_t uniform;  // 1: every input has size sizes[0] along the axis
  std::uint32_t kept;     // index of a kept std::vector of sizes when n > kInlineSizes
  static constexpr std::uint32_t kInlineSizes = 6;
  std::int64_t sizes[kInlineSizes];
};

struct JoinLayout {
  std::int64_t outer = 1, total = 1, inner = 1;
};

JoinLayout join_layout(const Shape& out, int axis) {
  JoinLayout l;
  for (int d = 0; d < axis; ++d) l.outer *= out[d];
  l.total = out[axis];
  for (int d = axis + 1; d < out.rank(); ++d) l.inner *= out[d];
  return l;
}

void join_backward(BackwardContext& ctx) {
  const auto& a = ctx.attrs<JoinAttrs>();
  const std::int64_t* sizes = a.sizes;
  if (!a.uniform && a.n > JoinAttrs::kInlineSizes)
    sizes = static_cast<const std::vector<std::int64_t>*>(ctx.object(a.kept))->data();
  const JoinLayout l = join_layout(ctx.output_shape(0), a.axis);
  const Tensor& g = ctx.grad_output();
  dispatch(g.dtype(), [&]<class T>() {
    const T* src = g.data<T>();
    std::int64_t offset = 0;
    for (std::uint32_t i = 0; i < a.n; ++i) {
      const std::int64_t size = a.uniform ? sizes[0] : sizes[i];
      if (ctx.needs_grad(static_cast<int>(i))) {  // the input's block of rows of dY
        auto [grad, first] = ctx.grad_target(static_cast<int>(i));
        const std::int64_t block = size * l.inner;
        kernels::copy_or_add_rows(src + offset * l.inner, l.total * l.inner, grad.data<T>(), block, l.outer, block,
                                  !first);
      }
      offset += size;
    }
  });
}

// Copies the inputs into their blocks of `out` and records the join; size(i) is input i's extent
// along `axis` of the output (1 for stack). Allocates nothing on the heap unless more than
// kInlineSizes inputs of different sizes are recorded.
template <class Size>
Tensor join(std::span<const Tensor> xs, Tensor out, int axis, Size size, const char* op) {
  const JoinLayout l = join_layout(out.shape(), axis);
  dispatch(out.dtype(), [&]<class T>() {
    T* dst = out.data<T>();
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const T* src = xs[i].data<T>();
      const std::int64_t block = size(i) * l.inner;
      kernels::copy_rows(src, block, dst + offset * l.inner, l.total * l.inner, l.outer, block);
      offset += size(i);
    }
  });
  if (NodeRef node = record(op, &join_backward, xs, std::span<Tensor>(&out, 1))) {
    JoinAttrs a{};
    a.axis = axis;
    a.n = static_cast<std::uint32_t>(xs.size());
    a.uniform = 1;
    for (std::size_t i = 1; i < xs.size(); ++i) a.uniform &= static_cast<std::uint32_t>(size(i) == size(0));
    if (a.uniform) {
      a.sizes[0] = size(0);
    } else if (xs.size() <= JoinAttrs::kInlineSizes) {
      for (std::size_t i = 0; i < xs.size(); ++i) a.sizes[i] = size(i);
    } else {
      auto sizes = std::make_shared<std::vector<std::int64_t>>(xs.size());
      for (std::size_t i = 0; i < xs.size(); ++i) (*sizes)[i] = size(i);
      a.kept = node.keep(std::move(sizes));
    }
    node.attrs(a);
  }
  return out;
}

// The checks concat and stack share: a non-empty list of one dtype that fits on the tape.
void check_join_list(std::span<const Tensor> xs, const char* op) {
  if (xs.empty()) throw ValueError(fmt::format("{}: got an empty list of tensors, expected at least one", op));
  constexpr std::size_t kMaxInputs = 0xffff;  // the tape counts a node's inputs in 16 bits
  if (xs.size() > kMaxInputs)
    throw ValueError(fmt::format("{}: got {} tensors, at most {} can be joined in one op", op, xs.size(), kMaxInputs));
  for (std::size_t i = 1; i < xs.size(); ++i)
    if (xs[i].dtype() != xs[0].dtype())
      throw DTypeError(fmt::format("{}: tensor 0 is {} {} and tensor {} is {} {}; expected the same dtype", op,
                                   xs[0].shape(), dtype_name(xs[0].dtype()), i, xs[i].shape(),
                                   dtype_name(xs[i].dtype())));
}
}  // namespace

Tensor reshape(const Tensor& x, std::span<const std::int64_t> shape) {
  const Shape& in = x.shape();
  if (shape.size() > static_cast<std::size_t>(kMaxRank))
    throw ShapeError(fmt::format("reshape: target shape [{}] has rank {}, more than the {} supported",
                                 fmt::join(shape, ","), shape.size(), kMaxRank));
  int inferred = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0)
        throw ValueError(
            fmt::format("reshape: target shape [{}] for input {} has more than one -1", fmt::join(shape, ","), in));
      inferred = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw ValueError(fmt::format("reshape: target shape [{}] for input {} has the negative size {}",
                                   fmt::join(shape, ","), in, shape[i]));
    }
  }
  std::array<std::int64_t, kMaxRank> dims{};
  std::copy(shape.begin(), shape.end(), dims.begin());
  if (inferred >= 0) dims[static_cast<std::size_t>(inferred)] = 1;
  Shape target(std::span<const std::int64_t>(dims.data(), shape.size()));
  // The product of the given sizes, overflow-checked (with the -1 as 1: if it comes out as 0 or 1,
  // the target is exactly this shape, otherwise its count is the input's).
  const std::int64_t known =
      target.checked_numel(dtype_size(x.dtype()), inferred >= 0 ? "reshape, with the -1 as 1" : "reshape");
  if (inferred >= 0) {
    if (known == 0 || in.numel() % known != 0)
      throw ShapeError(fmt::format("reshape: cannot reshape {} ({} elements) to [{}]: the -1 cannot be inferred", in,
                                   in.numel(), fmt::join(shape, ",")));
    target[inferred] = in.numel() / known;
  } else if (known != in.numel()) {
    throw ShapeError(fmt::format("reshape: cannot reshape {} ({} elements) to [{}] ({} elements)", in, in.numel(),
                                 fmt::join(shape, ","), known));
  }
  return reshape_impl(x, target, "reshape");
}

Tensor reshape(const Tensor& x, const std::vector<std::int64_t>& shape) {
  return reshape(x, std::span<const std::int64_t>(shape));
}

Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> shape) {
  return reshape(x, std::span<const std::int64_t>(shape.begin(), shape.size()));
}

Tensor flatten(const Tensor& x) {
  const Shape& in = x.shape();
  if (in.rank() == 0) throw ShapeError(fmt::format("flatten: input {} has no batch dimension; expected rank >= 1", in));
  std::int64_t rest = 1;
  for (int d = 1; d < in.rank(); ++d) rest *= in[d];
  return reshape_impl(x, Shape{in[0], rest}, "flatten");
}

Tensor transpose(const Tensor& x, int axis0, int axis1) {
  const Shape& in = x.shape();
  const int a0 = in.axis(axis0, "transpose"), a1 = in.axis(axis1, "transpose");
  std::array<int, kMaxRank> dims{};
  for (int d = 0; d < in.rank(); ++d) dims[static_cast<std::size_t>(d)] = d;
  std::swap(dims[static_cast<std::size_t>(a0)], dims[static_cast<std::size_t>(a1)]);
  return permute_impl(x, std::span<const int>(dims.data(), static_cast<std::size_t>(in.rank())), "transpose");
}

Tensor permute(const Tensor& x, std::span<const int> dims) {
  const Shape& in = x.shape();
  if (static_cast<int>(dims.size()) != in.rank())
    throw ValueError(
        fmt::format("permute: {} axes [{}] for input {} of rank {}", dims.size(), fmt::join(dims, ","), in, in.rank()));
  std::array<int, kMaxRank> norm{};
  std::uint32_t seen = 0;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    norm[i] = in.axis(dims[i], "permute");
    if (seen >> norm[i] & 1u)
      throw ValueError(
          fmt::format("permute: axes [{}] for input {} repeat axis {}", fmt::join(dims, ","), in, dims[i]));
    seen |= 1u << norm[i];
  }
  return permute_impl(x, std::span<const int>(norm.data(), dims.size()), "permute");
}

Tensor permute(const Tensor& x, const std::vector<int>& dims) { return permute(x, std::span<const int>(dims)); }

Tensor permute(const Tensor& x, std::initializer_list<int> dims) {
  return permute(x, std::span<const int>(dims.begin(), dims.size()));
}

Tensor slice(const Tensor& x, int axis, std::int64_t start, std::int64_t length) {
  const Shape& in = x.shape();
  const int d = in.axis(axis, "slice");
  const std::int64_t size = in[d];
  const std::int64_t begin = start < 0 ? start + size : start;
  if (begin < 0 || length < 0 || begin > size || length > size - begin)
    throw ValueError(
        fmt::format("slice: start {} and length {} along axis {} of {}: expected a range "
                    "within [0, {})",
                    start, length, axis, in, size));
  Shape out_shape = in;
  out_shape[d] = length;
  StridedAttrs a{contiguous_strides(in), 0};
  a.base = begin * a.st[static_cast<std::size_t>(d)];
  return strided_op(x, out_shape, a, "slice");
}

Tensor select(const Tensor& x, int axis, std::int64_t index) {
  const Shape& in = x.shape();
  const int d = in.axis(axis, "select");
  const std::int64_t size = in[d];
  const std::int64_t i = index < 0 ? index + size : index;
  if (i < 0 || i >= size)
    throw ValueError(
        fmt::format("select: index {} along axis {} of {}: expected [{}, {})", index, axis, in, -size, size));
  const Strides in_st = contiguous_strides(in);
  StridedAttrs a{{}, i * in_st[static_cast<std::size_t>(d)]};
  Shape out_shape;
  for (int k = 0; k < in.rank(); ++k) {
    if (k == d) continue;
    a.st[static_cast<std::size_t>(out_shape.rank())] = in_st[static_cast<std::size_t>(k)];
    out_shape.push_back(in[k]);
  }
  return strided_op(x, out_shape, a, "select");
}

Tensor concat(std::span<const Tensor> xs, int axis) {
  check_join_list(xs, "concat");
  const Shape& first = xs[0].shape();
  const int d = first.axis(axis, "concat");
  Shape out_shape = first;
  out_shape[d] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    bool fits = s.rank() == first.rank();
    for (int k = 0; fits && k < s.rank(); ++k) fits = k == d || s[k] == first[k];
    if (!fits)
      throw ShapeError(
          fmt::format("concat: tensor 0 is {} and tensor {} is {}: expected equal shapes but "
                      "along axis {}",
                      first, i, s, axis));
    if (__builtin_add_overflow(out_shape[d], s[d], &out_shape[d]))
      throw ShapeError(
          fmt::format("concat: the sizes along axis {} of tensors 0 to {} add up to more than an "
                      "int64 counts (tensor {} is {})",
                      axis, i, i, s));
  }
  return join(
      xs, Tensor::empty(out_shape, xs[0].dtype(), "concat"), d, [&](std::size_t i) { return xs[i].size(d); }, "concat");
}

Tensor stack(std::span<const Tensor> xs, int axis) {
  check_join_list(xs, "stack");
  const Shape& first = xs[0].shape();
  if (first.rank() >= kMaxRank)
    throw ShapeError(fmt::format("stack: tensors of shape {} would give rank {}, more than the {} supported", first,
                                 first.rank() + 1, kMaxRank));
  for (std::size_t i = 1; i < xs.size(); ++i)
    if (xs[i].shape() != first)
      throw ShapeError(
          fmt::format("stack: tensor 0 is {} and tensor {} is {}: expected equal shapes", first, i, xs[i].shape()));
  const int rank = first.rank() + 1;
  if (axis < -rank || axis >= rank)
    throw ValueError(
        fmt::format("stack: axis {} out of range for stacking tensors of shape {} "
                    "(expected [{}, {}))",
                    axis, first, -rank, rank));
  const int d = axis < 0 ? axis + rank : axis;
  Shape out_shape;
  for (int k = 0; k < rank; ++k)
    out_shape.push_back(k == d ? static_cast<std::int64_t>(xs.size()) : first[k < d ? k : k - 1]);
  return join(
      xs, Tensor::empty(out_shape, xs[0].dtype(), "stack"), d, [](std::size_t) { return std::int64_t{1}; }, "stack");
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  const Shape& in = x.shape();
  if (in.rank() > shape.rank())
    throw ShapeError(
        fmt::format("broadcast_to: cannot broadcast {} to {}: the target has fewer dimensions", in, shape));
  for (int k = 0; k < in.rank(); ++k) {
    const std::int64_t di = in[k], dt = shape[shape.rank() - in.rank() + k];
    if (di != dt && di != 1)
      throw ShapeError(
          fmt::format("broadcast_to: cannot broadcast {} to {}: dimension {} is {}, expected 1 "
                      "or {}",
                      in, shape, k - in.rank(), di, dt));
  }
  return strided_op(x, shape, StridedAttrs{detail::broadcast_strides(in, shape), 0}, "broadcast_to");
}

}  // namespace tg

#include <tapegrad/ops/mask.h>

#include <cstring>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

namespace {
struct StepAttrs {
  std::int64_t t;
};

// Calls keep(b, on) for every row b of a [B, T] mask at step t.
template <class F>
void for_each_row(const Tensor& mask, std::int64_t t, F keep) {
  const std::int64_t b = mask.size(0), steps = mask.size(1);
  dispatch(mask.dtype(), [&]<class M>() {
    const M* m = mask.data<M>();
    for (std::int64_t i = 0; i < b; ++i) keep(i, m[i * steps + t] != M(0));
  });
}

void masked_update_backward(BackwardContext& ctx) {
  const Tensor& mask = ctx.saved(0);
  const std::int64_t t = ctx.attrs<StepAttrs>().t;
  const Tensor& g = ctx.grad_output();
  const std::int64_t row = g.size(0) ? g.numel() / g.size(0) : 0;
  dispatch(g.dtype(), [&]<class T>() {
    const T* src = g.data<T>();
    T* du = ctx.needs_grad(0) ? ctx.grad_input(0).data<T>() : nullptr;
    T* dp = ctx.num_inputs() > 1 && ctx.needs_grad(1) ? ctx.grad_input(1).data<T>() : nullptr;
    for_each_row(mask, t, [&](std::int64_t b, bool kept) {
      T* dst = kept ? du : dp;
      if (!dst) return;
      for (std::int64_t j = 0; j < row; ++j) dst[b * row + j] += src[b * row + j];
    });
  });
}
}  // namespace

Tensor mask_not_equal(const Tensor& x, double value) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    T* o = out.data<T>();
    const T v = static_cast<T>(value);
    for (std::int64_t i = 0, n = x.numel(); i < n; ++i) o[i] = p[i] != v ? T(1) : T(0);
  });
  return out;
}

Tensor mask_any_not_equal(const Tensor& x, double value) {
  if (x.rank() != 3)
    throw ShapeError(fmt::format("mask_any_not_equal: input {}, expected [batch, time, features]", x.shape()));
  const std::int64_t rows = x.size(0) * x.size(1), f = x.size(2);
  Tensor out = Tensor::empty({x.size(0), x.size(1)}, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    T* o = out.data<T>();
    const T v = static_cast<T>(value);
    for (std::int64_t r = 0; r < rows; ++r) {
      bool any = false;
      for (std::int64_t j = 0; j < f; ++j) any |= p[r * f + j] != v;
      o[r] = any ? T(1) : T(0);
    }
  });
  return out;
}

void check_sequence_mask(const Tensor& mask, const Tensor& x, const char* who) {
  if (mask.rank() != 2 || x.rank() < 2 || mask.size(0) != x.size(0) || mask.size(1) != x.size(1))
    throw ShapeError(fmt::format("{}: mask {} for input {}: expected [batch, time] = [{},{}]", who, mask.shape(),
                                 x.shape(), x.rank() > 0 ? x.size(0) : 0, x.rank() > 1 ? x.size(1) : 0));
}

Tensor masked_update(const Tensor& mask, std::int64_t t, const Tensor& update, const Tensor& previous) {
  if (mask.rank() != 2 || update.rank() < 1 || mask.size(0) != update.size(0))
    throw ShapeError(
        fmt::format("masked_update: mask {} and update {}: expected a mask [batch, time] with the "
                    "update's batch",
                    mask.shape(), update.shape()));
  if (t < 0 || t >= mask.size(1))
    throw ValueError(fmt::format("masked_update: step {} out of range for a mask of {} steps", t, mask.size(1)));
  if (previous.defined() && previous.shape() != update.shape())
    throw ShapeError(fmt::format("masked_update: update {} and previous {}: expected equal shapes", update.shape(),
                                 previous.shape()));
  if (previous.defined() && previous.dtype() != update.dtype())
    throw DTypeError(fmt::format("masked_update: update is {} and previous {}; expected one dtype",
                                 dtype_name(update.dtype()), dtype_name(previous.dtype())));
  const std::int64_t row = update.size(0) ? update.numel() / update.size(0) : 0;
  Tensor out = Tensor::empty(update.shape(), update.dtype());
  dispatch(update.dtype(), [&]<class T>() {
    const T* u = update.data<T>();
    const T* p = previous.defined() ? previous.data<T>() : nullptr;
    T* o = out.data<T>();
    const auto bytes = static_cast<std::size_t>(row) * sizeof(T);
    for_each_row(mask, t, [&](std::int64_t b, bool kept) {
      if (kept)
        std::memcpy(o + b * row, u + b * row, bytes);
      else if (p)
        std::memcpy(o + b * row, p + b * row, bytes);
      else
        std::memset(o + b * row, 0, bytes);
    });
  });
  if (NodeRef node = record("masked_update", &masked_update_backward, {&update, &previous}, out))
    node.save(mask).attrs(StepAttrs{t});
  return out;
}

}  // namespace tg

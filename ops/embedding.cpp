#include <tapegrad/ops/embedding.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <tapegrad/core/tape.h>

namespace tg {

namespace {
// "[1,3]": the multi-index of flat element i of `shape`.
std::string index_str(const Shape& shape, std::int64_t i) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(shape.rank()));
  for (int d = shape.rank() - 1; d >= 0; --d) {
    idx[static_cast<std::size_t>(d)] = i % shape[d];
    i /= shape[d];
  }
  return fmt::format("[{}]", fmt::join(idx, ","));
}

// Every id a whole number in [0, vocab), or a ValueError on the first that is not.
void check_ids(const Tensor& ids, std::int64_t vocab) {
  dispatch(ids.dtype(), [&]<class I>() {
    const I* p = ids.data<I>();
    for (std::int64_t i = 0, n = ids.numel(); i < n; ++i) {
      const double v = static_cast<double>(p[i]);
      if (v >= 0 && v < static_cast<double>(vocab) && v == std::floor(v)) continue;
      if (v != std::floor(v))  // NaN too
        throw ValueError(
            fmt::format("embedding: id {} at {} of ids {} is not a whole number; expected ids in "
                        "[0, {})",
                        v, index_str(ids.shape(), i), ids.shape(), vocab));
      throw ValueError(fmt::format("embedding: id {} at {} of ids {} is out of range; expected ids in [0, {})", v,
                                   index_str(ids.shape(), i), ids.shape(), vocab));
    }
  });
}

void embedding_backward(BackwardContext& ctx) {
  if (!ctx.needs_grad(1)) return;  // ids get no gradient
  const Tensor& ids = ctx.saved(0);
  const Tensor& g = ctx.grad_output();
  const std::int64_t dim = ctx.input_shape(1)[1];
  // Checked in forward too; written through data<T>() since (which the version check cannot
  // see), an id must still never address a row outside the table.
  check_ids(ids, ctx.input_shape(1)[0]);
  dispatch(g.dtype(), [&]<class T>() {
    const T* src = g.data<T>();
    T* dw = ctx.grad_input(1).data<T>();
    dispatch(ids.dtype(), [&]<class I>() {
      const I* id = ids.data<I>();
      for (std::int64_t i = 0, n = ids.numel(); i < n; ++i) {  // dW[id_i] += g_i
        T* row = dw + static_cast<std::int64_t>(id[i]) * dim;
        const T* gi = src + i * dim;
        for (std::int64_t j = 0; j < dim; ++j) row[j] += gi[j];
      }
    });
  });
}
}  // namespace

Tensor embedding(const Tensor& ids, const Tensor& weight) {
  if (weight.rank() != 2)
    throw ShapeError(fmt::format("embedding: weight {} must be [vocabulary, dim]", weight.shape()));
  if (ids.rank() >= kMaxRank)
    throw ShapeError(fmt::format("embedding: ids {} would give rank {}, more than the {} supported", ids.shape(),
                                 ids.rank() + 1, kMaxRank));
  const std::int64_t vocab = weight.size(0), dim = weight.size(1);
  check_ids(ids, vocab);
  Shape out_shape = ids.shape();
  out_shape.push_back(dim);
  Tensor out = Tensor::empty(out_shape, weight.dtype());
  dispatch(weight.dtype(), [&]<class T>() {  // [N] ids x [V,D] -> [N,D]
    const T* w = weight.data<T>();
    T* dst = out.data<T>();
    dispatch(ids.dtype(), [&]<class I>() {
      const I* id = ids.data<I>();
      for (std::int64_t i = 0, n = ids.numel(); i < n; ++i)
        std::memcpy(dst + i * dim, w + static_cast<std::int64_t>(id[i]) * dim,
                    static_cast<std::size_t>(dim) * sizeof(T));
    });
  });
  if (NodeRef node = record("embedding", &embedding_backward, {&ids, &weight}, out)) node.save(ids);
  return out;
}

}  // namespace tg

#include "nn/time_distributed.h"

#include <fmt/format.h>

#include "ops/shape_ops.h"

namespace tg {

Dims TimeDistributed::on_build(const Dims& input) {
  if (input.size() < 3)
    throw ShapeError(fmt::format("TimeDistributed: input {} must be (batch, time, ...)", dims_str(input)));
  Dims inner{-1};
  inner.insert(inner.end(), input.begin() + 2, input.end());
  Dims out = layer_->build(inner);
  Dims result{input[0], input[1]};
  result.insert(result.end(), out.begin() + 1, out.end());
  return result;
}

Tensor TimeDistributed::forward(const Tensor& x) {
  if (x.rank() < 3)
    throw ShapeError(fmt::format("TimeDistributed: input {}, expected [batch, time, ...]", x.shape()));
  if (!built()) {
    Dims d(x.shape().begin(), x.shape().end());
    build(d);
  }
  const std::int64_t b = x.size(0), t = x.size(1);
  std::vector<std::int64_t> folded{b * t};
  for (int i = 2; i < x.rank(); ++i) folded.push_back(x.size(i));
  Tensor y = (*layer_)(reshape(x, folded));
  std::vector<std::int64_t> unfolded{b, t};
  for (int i = 1; i < y.rank(); ++i) unfolded.push_back(y.size(i));
  return reshape(y, unfolded);
}

}  // namespace tg

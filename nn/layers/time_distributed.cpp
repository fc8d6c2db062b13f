#include <tapegrad/nn/layers/time_distributed.h>

#include <array>
#include <span>

#include <fmt/format.h>

#include <tapegrad/nn/layers/layer_registry.h>

#include <tapegrad/ops/shape_ops.h>

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
  if (x.rank() < 3) throw ShapeError(fmt::format("TimeDistributed: input {}, expected [batch, time, ...]", x.shape()));
  if (!built()) {
    Dims d(x.shape().begin(), x.shape().end());
    build(d);
  }
  const std::int64_t b = x.size(0), t = x.size(1);
  std::array<std::int64_t, kMaxRank> dims{b * t};  // [B*T, ...]: no heap on the hot path
  std::size_t n = 1;
  for (int i = 2; i < x.rank(); ++i) dims[n++] = x.size(i);
  Tensor y;
  try {
    y = (*layer_)(reshape(x, std::span<const std::int64_t>(dims.data(), n)));
  } catch (const ShapeError& e) {  // the layer saw [B*T, ...]: say what the user passed
    throw ShapeError(fmt::format("TimeDistributed: input {} (time folded into the batch): {}", x.shape(), e.what()));
  } catch (const DTypeError& e) {
    throw DTypeError(fmt::format("TimeDistributed: input {}: {}", x.shape(), e.what()));
  }
  if (y.rank() + 1 > kMaxRank)
    throw ShapeError(fmt::format("TimeDistributed: the layer's output {} would need rank {} once unfolded", y.shape(),
                                 y.rank() + 1));
  dims[0] = b;
  dims[1] = t;
  n = 2;
  for (int i = 1; i < y.rank(); ++i) dims[n++] = y.size(i);
  return reshape(y, std::span<const std::int64_t>(dims.data(), n));
}

std::shared_ptr<Module> TimeDistributed::clone_unbuilt() const {
  auto inner = layer_->clone_unbuilt();
  inner->set_name(layer_->name());
  return std::make_shared<TimeDistributed>(std::move(inner));
}

std::optional<Json> TimeDistributed::config() const { return Json::object().set("layer", describe_layer(*layer_)); }

}  // namespace tg

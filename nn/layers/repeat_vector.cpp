#include <tapegrad/nn/layers/repeat_vector.h>

#include <fmt/format.h>

#include <tapegrad/ops/shape_ops.h>

namespace tg {

RepeatVector::RepeatVector(std::int64_t n) : Module("RepeatVector"), n_(n) {
  if (n <= 0) throw ValueError(fmt::format("RepeatVector: n must be positive, got {}", n));
}

Dims RepeatVector::on_build(const Dims& input) {
  if (input.size() != 2)
    throw ShapeError(fmt::format("RepeatVector: input {} must be (batch, features)", dims_str(input)));
  return {input[0], n_, input[1]};
}

Tensor RepeatVector::forward(const Tensor& x) {
  if (x.rank() != 2) throw ShapeError(fmt::format("RepeatVector: input {}, expected [batch, features]", x.shape()));
  const std::int64_t b = x.size(0), f = x.size(1);
  return broadcast_to(reshape(x, {b, 1, f}), Shape{b, n_, f});  // [B,F] -> [B,1,F] -> [B,n,F]
}

std::shared_ptr<Module> RepeatVector::clone_unbuilt() const { return std::make_shared<RepeatVector>(n_); }

std::optional<Json> RepeatVector::config() const { return Json::object().set("n", n_); }

}  // namespace tg

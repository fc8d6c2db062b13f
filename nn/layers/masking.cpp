#include <tapegrad/nn/layers/masking.h>

#include <fmt/format.h>

#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/mask.h>

namespace tg {

Masking::Masking(double mask_value) : Module("Masking"), mask_value_(mask_value) {}

Dims Masking::on_build(const Dims& input) {
  if (input.size() != 3)
    throw ShapeError(fmt::format("Masking: input {} must be (batch, time, features)", dims_str(input)));
  return input;
}

Tensor Masking::forward(const Tensor& x) {
  if (x.rank() != 3) throw ShapeError(fmt::format("Masking: input {}, expected [batch, time, features]", x.shape()));
  if (mask_value_ == 0.0) return x;  // the masked steps are zeros already
  Tensor mask = mask_any_not_equal(x, mask_value_);
  return x * mask.view({x.size(0), x.size(1), 1});
}

Tensor Masking::compute_mask(const Tensor& x, const Tensor&) const { return mask_any_not_equal(x, mask_value_); }

std::shared_ptr<Module> Masking::clone_unbuilt() const { return std::make_shared<Masking>(mask_value_); }

std::optional<Json> Masking::config() const { return Json::object().set("mask_value", mask_value_); }

}  // namespace tg

#include <tapegrad/nn/recurrent/bidirectional.h>

#include <array>

#include <fmt/format.h>

#include <tapegrad/nn/layers/layer_registry.h>
#include <tapegrad/ops/elementwise.h>
#include <tapegrad/ops/shape_ops.h>

namespace tg {

namespace {
std::shared_ptr<RNN> unbuilt_copy(const RNN& layer) {
  auto copy = std::dynamic_pointer_cast<RNN>(layer.clone_unbuilt());
  if (!copy) throw ValueError(fmt::format("Bidirectional: the copy of {} is not an RNN", layer.type_name()));
  return copy;
}

std::shared_ptr<RNN> backward_copy(const std::shared_ptr<RNN>& layer) {
  if (!layer) throw ValueError("Bidirectional: the layer is null");
  return unbuilt_copy(*layer);
}
}  // namespace

Bidirectional::Bidirectional(std::shared_ptr<RNN> layer, MergeMode merge, int)
    : Bidirectional(layer, backward_copy(layer), merge) {}

Bidirectional::Bidirectional(std::shared_ptr<RNN> forward_layer, std::shared_ptr<RNN> backward_layer, MergeMode merge)
    : Module("Bidirectional"), forward_(std::move(forward_layer)), backward_(std::move(backward_layer)), merge_(merge) {
  if (!forward_ || !backward_) throw ValueError("Bidirectional: a direction's layer is null");
  if (forward_ == backward_)
    throw ValueError("Bidirectional: the forward and backward layers are one object; they need their own weights");
  if (forward_->options().return_sequences != backward_->options().return_sequences)
    throw ValueError(fmt::format("Bidirectional: return_sequences is {} forward and {} backward; expected the same",
                                 forward_->options().return_sequences, backward_->options().return_sequences));
  register_module("forward_layer", forward_);
  register_module("backward_layer", backward_);
}

Dims Bidirectional::on_build(const Dims& input) {
  if (input.size() != 3)
    throw ShapeError(fmt::format("Bidirectional: input {} must be (batch, time, features)", dims_str(input)));
  Dims f = forward_->build(input);
  Dims b = backward_->build(input);
  if (merge_ == MergeMode::sum && f.back() != b.back())
    throw ValueError(fmt::format("Bidirectional: merge sum of {} forward and {} backward units; expected equal units",
                                 f.back(), b.back()));
  if (merge_ == MergeMode::concat) f.back() += b.back();
  return f;
}

Tensor Bidirectional::run(const Tensor& x, const Tensor& mask) {
  if (x.rank() != 3)
    throw ShapeError(fmt::format("Bidirectional: input {}, expected [batch, time, features]", x.shape()));
  if (!built()) build({-1, -1, x.size(2)});
  std::array<Tensor, 2> out{forward_->forward_with_states(x, {}, mask, false).first,
                            backward_->forward_with_states(x, {}, mask, true).first};
  if (merge_ == MergeMode::sum) return out[0] + out[1];
  return concat(out, -1);
}

Tensor Bidirectional::forward(const Tensor& x) { return run(x, Tensor()); }

Tensor Bidirectional::forward_masked(const Tensor& x, const Tensor& mask) { return run(x, mask); }

std::shared_ptr<Module> Bidirectional::clone_unbuilt() const {
  auto f = unbuilt_copy(*forward_), b = unbuilt_copy(*backward_);
  f->set_name(forward_->name());
  b->set_name(backward_->name());
  return std::make_shared<Bidirectional>(std::move(f), std::move(b), merge_);
}

std::optional<Json> Bidirectional::config() const {
  return Json::object()
      .set("forward_layer", describe_layer(*forward_))
      .set("backward_layer", describe_layer(*backward_))
      .set("merge", merge_ == MergeMode::sum ? "sum" : "concat");
}

Tensor Bidirectional::compute_mask(const Tensor&, const Tensor& mask) const {
  return forward_->options().return_sequences ? mask : Tensor();
}

}  // namespace tg

#include <tapegrad/nn/layers/normalization.h>

#include <fmt/format.h>

#include <tapegrad/nn/layers/init.h>
#include <tapegrad/ops/norm.h>

namespace tg {

LayerNormalization::LayerNormalization(double epsilon) : Module("LayerNormalization"), epsilon_(epsilon) {
  if (!(epsilon >= 0)) throw ValueError(fmt::format("LayerNormalization: epsilon must be >= 0, got {}", epsilon));
}

LayerNormalization::LayerNormalization(std::int64_t features, double epsilon) : LayerNormalization(epsilon) {
  build({-1, features});
}

Dims LayerNormalization::on_build(const Dims& input) {
  if (input.empty() || input.back() <= 0)
    throw ShapeError(fmt::format("LayerNormalization: input {} needs a known last dimension", dims_str(input)));
  gamma = register_parameter("gamma", ones({input.back()}));
  beta = register_parameter("beta", init::zeros({input.back()}));
  return input;
}

Tensor LayerNormalization::forward(const Tensor& x) {
  if (!built()) build({-1, x.rank() ? x.size(-1) : 0});
  if (x.rank() < 1 || x.size(-1) != gamma.size(0))
    throw ShapeError(fmt::format("{}: input {}, expected [..., {}]",
                                 name().empty() ? "LayerNormalization" : "LayerNormalization (" + name() + ")",
                                 x.shape(), gamma.size(0)));
  return layer_norm(x, gamma, beta, epsilon_);
}

std::shared_ptr<Module> LayerNormalization::clone_unbuilt() const {
  return std::make_shared<LayerNormalization>(epsilon_);
}

std::optional<Json> LayerNormalization::config() const { return Json::object().set("epsilon", epsilon_); }

}  // namespace tg

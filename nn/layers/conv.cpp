#include <tapegrad/nn/layers/conv.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include <tapegrad/nn/layers/layer_registry.h>

#include <tapegrad/nn/layers/init.h>

namespace tg {

const char* padding_name(Padding p) {
  switch (p) {
    case Padding::valid: return "valid";
    case Padding::causal: return "causal";
    case Padding::same: return "same";
  }
  return "?";
}

Conv1D::Conv1D(std::int64_t filters, std::int64_t kernel_size, Conv1DOptions options)
    : Module("Conv1D"), filters_(filters), kernel_size_(kernel_size), options_(options) {
  if (filters <= 0) throw ValueError(fmt::format("Conv1D: filters must be positive, got {}", filters));
  if (kernel_size <= 0) throw ValueError(fmt::format("Conv1D: kernel_size must be positive, got {}", kernel_size));
  if (options.strides <= 0) throw ValueError(fmt::format("Conv1D: strides must be positive, got {}", options.strides));
  if (options.dilation_rate <= 0)
    throw ValueError(fmt::format("Conv1D: dilation_rate must be positive, got {}", options.dilation_rate));
  if (options.padding != Padding::valid && options.padding != Padding::causal && options.padding != Padding::same)
    throw ValueError(
        fmt::format("Conv1D: padding must be valid, causal or same, got {}", static_cast<int>(options.padding)));
}

Conv1dOptions Conv1D::conv_options(std::int64_t steps) const {
  Conv1dOptions o{.stride = options_.strides, .dilation = options_.dilation_rate};
  const std::int64_t span = (kernel_size_ - 1) * options_.dilation_rate + 1;
  if (options_.padding == Padding::causal) {
    o.pad_left = span - 1;
  } else if (options_.padding == Padding::same) {
    const std::int64_t out = (steps + options_.strides - 1) / options_.strides;
    const std::int64_t total = std::max<std::int64_t>((out - 1) * options_.strides + span - steps, 0);
    o.pad_left = total / 2;
    o.pad_right = total - o.pad_left;
  }
  return o;
}

std::string Conv1D::label() const { return name().empty() ? "Conv1D" : fmt::format("Conv1D ({})", name()); }

std::int64_t Conv1D::output_steps(std::int64_t steps) const {
  return conv1d_output_steps(steps, kernel_size_, conv_options(steps));
}

void Conv1D::check_steps(std::int64_t steps, const std::string& got) const {
  if (steps < 0 || output_steps(steps) > 0) return;
  const std::int64_t span = (kernel_size_ - 1) * options_.dilation_rate + 1;
  throw ShapeError(
      fmt::format("{}: input {} has {} time steps; kernel_size {} with dilation_rate {} and "
                  "padding {} needs at least {}",
                  label(), got, steps, kernel_size_, options_.dilation_rate, padding_name(options_.padding),
                  options_.padding == Padding::valid ? span : 1));
}

Dims Conv1D::on_build(const Dims& input) {
  if (input.size() != 3 || input[2] <= 0)
    throw ShapeError(
        fmt::format("Conv1D: input {} must be (batch, time, features) with known features", dims_str(input)));
  check_steps(input[1], dims_str(input));
  const std::int64_t fan_in = kernel_size_ * input[2], fan_out = kernel_size_ * filters_;
  const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  kernel = register_parameter("kernel", init::uniform({kernel_size_, input[2], filters_}, -limit, limit));
  bias = register_parameter("bias", init::zeros({filters_}));
  return {input[0], input[1] < 0 ? -1 : output_steps(input[1]), filters_};
}

Tensor Conv1D::forward(const Tensor& x) {
  if (x.rank() != 3)
    throw ShapeError(fmt::format("{}: input {}, expected [batch, time, features]", label(), x.shape()));
  if (!built()) build({-1, -1, x.size(2)});
  if (x.size(2) != kernel.size(1))
    throw ShapeError(fmt::format("{}: input {}, expected [batch, time, {}]", label(), x.shape(), kernel.size(1)));
  check_steps(x.size(1), fmt::format("{}", x.shape()));
  return options_.activation(conv1d(x, kernel, bias, conv_options(x.size(1))));
}

std::shared_ptr<Module> Conv1D::clone_unbuilt() const {
  return std::make_shared<Conv1D>(filters_, kernel_size_, options_);
}

std::optional<Json> Conv1D::config() const {
  return Json::object()
      .set("filters", filters_)
      .set("kernel_size", kernel_size_)
      .set("strides", options_.strides)
      .set("padding", padding_name(options_.padding))
      .set("dilation_rate", options_.dilation_rate)
      .set("activation", activation_config(options_.activation, *this));
}

}  // namespace tg

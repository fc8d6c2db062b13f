#pragma once
/// \file
/// Conv1D: a 1-D convolution over time with Keras' semantics. Input [B, T, F], output
/// [B, T', filters]; kernel glorot_uniform [kernel_size, F, filters] (fan_in = kernel_size * F,
/// fan_out = kernel_size * filters), bias zeros [filters]. PyTorch's torch.nn.Conv1d holds the
/// same kernel as weight [filters, F, kernel_size] (axes 0 and 2 swapped) and wants channels
/// first; ops/conv.h gives the exact correspondence.
///
///     tg::Conv1D(20, 2, {.padding = tg::Padding::causal, .dilation_rate = 4, .activation = tg::activations::relu})

#include <tapegrad/core/config.h>

#include <cstdint>
#include <string>

#include <tapegrad/nn/layers/activation.h>
#include <tapegrad/nn/layers/module.h>
#include <tapegrad/ops/conv.h>

namespace tg {

/// How Conv1D pads the time axis (Keras' `padding=`).
enum class Padding {
  valid,   ///< none: T' = (T - span) / strides + 1, span = (kernel_size - 1) * dilation_rate + 1
  causal,  ///< span - 1 zeros before the sequence: output t sees inputs <= t * strides only
  same,    ///< T' = ceil(T / strides); the zeros split evenly, the odd one after (TensorFlow's SAME)
};

/// "valid", "causal", "same".
const char* padding_name(Padding p);

/// Conv1D's options, as Keras' Conv1D arguments.
struct Conv1DOptions {
  /// Step between the starts of two output windows, in input steps (> 0).
  std::int64_t strides = 1;
  /// Zero padding of the time axis.
  Padding padding = Padding::valid;
  /// Spacing between the kernel's taps, in input steps (> 0): a span of
  /// (kernel_size - 1) * dilation_rate + 1 steps.
  std::int64_t dilation_rate = 1;
  /// Applied to the convolution's output (bias included); linear by default.
  Activation activation = activations::linear;
};

/// Keras' Conv1D(filters, kernel_size): x [B, T, F] -> [B, T', filters], built at the first input.
class Conv1D : public Module {
 public:
  /// ValueError unless filters, kernel_size, strides and dilation_rate are positive.
  Conv1D(std::int64_t filters, std::int64_t kernel_size, Conv1DOptions options = {});

  /// x [B, T, F] -> [B, T', filters]. ShapeError for another rank, other features than built
  /// for, or a sequence too short for the kernel.
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Module> clone_unbuilt() const override;
  std::optional<Json> config() const override;

  /// The explicit padding and output length for `steps` input steps.
  Conv1dOptions conv_options(std::int64_t steps) const;
  /// T' for `steps` input steps with this layer's padding, strides and dilation (<= 0 when the
  /// input is too short for the kernel).
  std::int64_t output_steps(std::int64_t steps) const;

  /// Number of output features.
  std::int64_t filters() const { return filters_; }
  /// Number of taps of the kernel (in time).
  std::int64_t kernel_size() const { return kernel_size_; }
  /// The options given to the constructor.
  const Conv1DOptions& options() const { return options_; }
  /// kernel [kernel_size, F, filters], bias [filters]; undefined until built.
  /// @{
  Tensor kernel, bias;
  /// @}

 protected:
  Dims on_build(const Dims& input) override;

 private:
  void check_steps(std::int64_t steps, const std::string& got) const;
  std::string label() const;  // "Conv1D (name)" for messages
  std::int64_t filters_, kernel_size_;
  Conv1DOptions options_;
};

}  // namespace tg

#pragma once
/// \file
/// 1-D convolution over time, Keras' layout: x [B, T, F], kernel [K, F, O], bias [O] ->
/// [B, T', O]. Computed as im2col + one GEMM (ops/kernels/conv.h); the backward is the
/// transposed GEMMs and col2im.
///
/// Relation to PyTorch: torch.nn.functional.conv1d takes channels first, so the same result is
///     y = conv1d(pad(x.permute(0, 2, 1), (pad_left, pad_right)), kernel.permute(2, 1, 0), bias,
///                stride, dilation).permute(0, 2, 1)
/// i.e. torch.nn.Conv1d's weight [O, F, K] is this kernel with axes 0 and 2 swapped.

#include <tapegrad/core/config.h>

#include <cstdint>

#include <tapegrad/core/tensor.h>

namespace tg {

/// Stride, dilation and explicit zero padding of the time axis (before and after).
struct Conv1dOptions {
  /// Step between the starts of two output windows, in input steps (> 0).
  std::int64_t stride = 1;
  /// Spacing between the kernel's taps, in input steps (> 0).
  std::int64_t dilation = 1;
  /// Zero steps put before the sequence (>= 0).
  std::int64_t pad_left = 0;
  /// Zero steps put after the sequence (>= 0).
  std::int64_t pad_right = 0;
};

/// y[b, t, o] = bias[o] + sum_{k, f} x[b, t * stride + k * dilation - pad_left, f] * kernel[k, f, o],
/// with x taken as 0 outside [0, T), for t in [0, T'), T' = (T + pads - (K - 1) * dilation - 1) / stride + 1.
/// `bias` may be undefined. ShapeError when ranks or features disagree or the padded sequence is
/// shorter than the kernel's span; ValueError for a non-positive stride or dilation or a negative pad.
Tensor conv1d(const Tensor& x, const Tensor& kernel, const Tensor& bias, const Conv1dOptions& options = {});

/// The output length of conv1d for `steps` input steps (may be <= 0 when the input is too short).
std::int64_t conv1d_output_steps(std::int64_t steps, std::int64_t kernel_size, const Conv1dOptions& options);

}  // namespace tg

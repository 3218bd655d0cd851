// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "conv.hpp"
#include "module.hpp"

namespace tapeflow::nn {

/// A pooling stride: unset (the default, meaning "equal to the kernel size", as in PyTorch), an
/// integer, or {h, w}.
struct PoolStride {
  constexpr PoolStride() = default;
  constexpr PoolStride(int64_t both) : value(Size2(both)) {}  // NOLINT: implicit on purpose
  constexpr PoolStride(int64_t h, int64_t w) : value(Size2(h, w)) {}
  constexpr PoolStride(Size2 s) : value(s) {}  // NOLINT: implicit on purpose
  /// The stride, or `kernel_size` when unset.
  Size2 or_kernel(Size2 kernel_size) const { return value ? *value : kernel_size; }
  std::optional<Size2> value;
};

/// Options of max_pool2d. Output size per axis: (in + 2·padding − dilation·(k − 1) − 1) /
/// stride + 1, rounded down (no ceil_mode).
struct MaxPool2dOptions {
  PoolStride stride = {};  ///< unset: the kernel size
  Size2 padding = 0;       ///< -inf taps on both sides, at most half the kernel size
  Size2 dilation = 1;      ///< spacing between window taps
};

/// Options of avg_pool2d (same output size rule as max_pool2d, without dilation).
struct AvgPool2dOptions {
  PoolStride stride = {};         ///< unset: the kernel size
  Size2 padding = 0;              ///< zero taps on both sides, at most half the kernel size
  bool count_include_pad = true;  ///< divide by the whole window, or by its in-bounds taps only
};

namespace functional {
/// Largest value of each kernel window: [N, C, H, W] (or [C, H, W]) -> [N, C, OH, OW]. The
/// gradient goes to the window's maximum, all of it to the first in row-major order when
/// several tie (PyTorch's rule); differentiable to any order. A NaN anywhere in a window is
/// that window's result, as in PyTorch. Throws ShapeError for a wrong rank
/// or a window larger than the padded input, ValueError for non-positive kernel, stride or
/// dilation and for padding negative or above half the kernel, DTypeError for integer input.
Tensor max_pool2d(const Tensor& input, Size2 kernel_size, const MaxPool2dOptions& options = {});
/// Mean of each kernel window: [N, C, H, W] (or [C, H, W]) -> [N, C, OH, OW], computed as a
/// convolution of each plane with a constant kernel; differentiable to any order; errors as
/// max_pool2d.
Tensor avg_pool2d(const Tensor& input, Size2 kernel_size, const AvgPool2dOptions& options = {});
}  // namespace functional

/// functional::max_pool2d as a module (no parameters).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, MaxPool2dOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  Size2 kernel_size;
  MaxPool2dOptions options;
};

/// functional::avg_pool2d as a module (no parameters).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, AvgPool2dOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  Size2 kernel_size;
  AvgPool2dOptions options;
};

}  // namespace tapeflow::nn

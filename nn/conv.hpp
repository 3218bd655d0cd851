// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <string>

#include "module.hpp"

namespace tapeflow::nn {

/// A pair of sizes {height, width} for kernel sizes, strides, paddings and dilations; a single
/// integer sets both (`.stride = 2` or `.stride = {2, 1}`), like LibTorch's ExpandingArray<2>.
struct Size2 {
  constexpr Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose
  constexpr Size2(int64_t height, int64_t width) : h(height), w(width) {}
  int64_t h;
  int64_t w;
  bool operator==(const Size2&) const = default;
};

/// Options of conv2d and Conv2d. Output size per axis: (in + 2·padding − dilation·(k − 1) − 1)
/// / stride + 1, rounded down.
struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;    ///< zeros added on both sides of each spatial axis
  Size2 dilation = 1;   ///< spacing between kernel taps
  int64_t groups = 1;   ///< channels split into this many independent groups
  bool bias = true;     ///< Conv2d only: whether the module has a bias (functional::conv2d
                        ///< takes the bias tensor instead and refuses one when this is false)
};

namespace functional {
/// 2-d cross-correlation (what deep learning calls convolution), as im2col + one GEMM:
/// input [N, C, H, W] (or unbatched [C, H, W]), weight [OC, C / groups, kh, kw], optional bias
/// [OC] -> [N, OC, OH, OW]. Differentiable to any order in input, weight and bias. Throws
/// ShapeError for a wrong rank, a channel mismatch, a kernel larger than the padded input or a
/// bad bias shape, ValueError for non-positive stride, dilation or groups and negative padding,
/// DTypeError for non-floating or mixed dtypes.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});
}  // namespace functional

/// 2-d convolution layer: [N, in_channels, H, W] -> [N, out_channels, OH, OW]. The weight
/// [out, in / groups, kh, kw] starts kaiming_uniform_(a = sqrt(5)) and the bias
/// U(±1/sqrt(fan_in)) with fan_in = in / groups · kh · kw, LibTorch's defaults.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Conv2dOptions options = {});
  Tensor forward(const Tensor& input) override;
  /// PyTorch's format: "1, 32, kernel_size=(3, 3), stride=(1, 1)" plus non-default options.
  std::string extra_repr() const override;
  /// Draws fresh initial values.
  void reset_parameters();

  Tensor weight;
  Tensor bias;  ///< undefined with {.bias = false}
  int64_t in_channels;
  int64_t out_channels;
  Size2 kernel_size;
  Conv2dOptions options;
};

}  // namespace tapeflow::nn

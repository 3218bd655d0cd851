// SPDX-License-Identifier: MIT
// Convolution as im2col + GEMM. im2col (a dedicated kernel, autograd/ops_window.cpp) lays the
// windows of the whole batch out as columns [C·kh·kw, N·OH·OW], so the batch is ONE GEMM with
// the weight [OC, C·kh·kw]. Its backward is col2im and col2im's is im2col, so every higher
// derivative comes from those two and matmul's rule: this file has no backward code.
#include "conv.hpp"

#include <cmath>
#include <utility>
#include <vector>

#include "../autograd/detail/window_ops.hpp"
#include "../tensor/ops.hpp"
#include "detail/size2_format.hpp"
#include "detail/window_span.hpp"
#include "init.hpp"

namespace tapeflow::nn {

namespace {

/// Spatial geometry of one conv2d call.
struct WindowGeometry {
  int64_t channels, height, width;
  Size2 kernel, stride, padding, dilation;
  int64_t out_h, out_w;
};

using detail::pair_str;
using detail::size2_str;

WindowGeometry window_geometry(const Shape& input, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation) {
  if (kernel.h <= 0 || kernel.w <= 0)
    throw ValueError("conv2d: kernel size must be positive, got " + size2_str(kernel));
  if (stride.h <= 0 || stride.w <= 0)
    throw ValueError("conv2d: stride must be positive, got " + size2_str(stride));
  if (dilation.h <= 0 || dilation.w <= 0)
    throw ValueError("conv2d: dilation must be positive, got " + size2_str(dilation));
  if (padding.h < 0 || padding.w < 0)
    throw ValueError("conv2d: padding must be non-negative, got " + size2_str(padding));
  const int64_t h = input[2], w = input[3];
  const auto [span, padded] = detail::window_span("conv2d", h, w, kernel, padding, dilation);
  if (span.h > padded.h || span.w > padded.w)
    throw ShapeError("conv2d: kernel " + size2_str(kernel) +
                     (span == kernel ? std::string() : " (dilated to " + size2_str(span) + ")") +
                     " is larger than the padded input " + size2_str(padded) + " of input " + shape_str(input));
  return {input[1], h,        w,        kernel,
          stride,   padding,  dilation, (padded.h - span.h) / stride.h + 1,
          (padded.w - span.w) / stride.w + 1};
}

/// The window of one conv2d call, for the im2col kernels.
tapeflow::detail::Window2d window_of(const WindowGeometry& g) {
  return {g.kernel.h,  g.kernel.w,  g.stride.h,   g.stride.w,   g.padding.h,
          g.padding.w, g.dilation.h, g.dilation.w, g.out_h,      g.out_w};
}

/// The im2col columns [C·kh·kw (+1), N·OH·OW] of x; an OutOfMemoryError naming conv2d when they
/// cannot be allocated (huge padding), never std::bad_alloc.
Tensor columns(const Tensor& x, const WindowGeometry& g, bool ones_row) {
  try {
    return tapeflow::detail::im2col(x, window_of(g), ones_row);
  } catch (const OutOfMemoryError& e) {
    throw OutOfMemoryError("conv2d: the im2col columns of an output of " + std::to_string(g.out_h) + "x" +
                     std::to_string(g.out_w) + " windows of " +
                     std::to_string(g.channels * g.kernel.h * g.kernel.w) + " taps cannot be allocated (" +
                     e.what() + ")");
  }
}

}  // namespace

Tensor functional::conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                          const Conv2dOptions& options) {
  if (!input.defined() || !weight.defined())
    throw ValueError("conv2d: got an undefined input or weight");
  if (input.dim() != 3 && input.dim() != 4)
    throw ShapeError("conv2d: expected input [N, C, H, W] (or unbatched [C, H, W]), got " +
                     shape_str(input.shape()));
  if (weight.dim() != 4)
    throw ShapeError("conv2d: expected weight [out_channels, in_channels / groups, kh, kw], got " +
                     shape_str(weight.shape()));
  if (!is_floating(input.dtype()) || input.dtype() != weight.dtype() ||
      (bias.defined() && bias.dtype() != input.dtype()))
    throw DTypeError("conv2d: input, weight and bias must share one floating dtype, got " +
                     std::string(dtype_name(input.dtype())) + ", " + dtype_name(weight.dtype()) +
                     (bias.defined() ? std::string(", ") + dtype_name(bias.dtype()) : std::string()));
  if (input.device() != weight.device() || (bias.defined() && bias.device() != input.device()))
    throw DeviceError("conv2d: input, weight and bias must be on one device, got " + input.device().str() + ", " +
                      weight.device().str() + (bias.defined() ? ", " + bias.device().str() : std::string()));
  if (input.dim() == 3) return conv2d(input.unsqueeze(0), weight, bias, options).squeeze(0);

  const int64_t groups = options.groups;
  if (groups <= 0) throw ValueError("conv2d: groups must be positive, got " + std::to_string(groups));
  const Shape& xs = input.shape();
  const Shape& ws = weight.shape();
  const int64_t n = xs[0], channels = xs[1], out_channels = ws[0];
  int64_t expected_channels;  // ws[1] * groups, which a huge groups would overflow
  const bool too_many = __builtin_mul_overflow(ws[1], groups, &expected_channels);
  if (too_many || channels != expected_channels)
    throw ShapeError("conv2d: input " + shape_str(xs) + " has " + std::to_string(channels) +
                     " channels but weight " + shape_str(ws) + " expects " +
                     (too_many ? std::string("more than 2^63") : std::to_string(expected_channels)) +
                     (groups > 1 ? " (" + std::to_string(ws[1]) + " per group, groups=" + std::to_string(groups) + ")"
                                 : std::string()));
  if (out_channels % groups != 0)
    throw ShapeError("conv2d: weight " + shape_str(ws) + " has " + std::to_string(out_channels) +
                     " output channels, not divisible by groups=" + std::to_string(groups));
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != out_channels))
    throw ShapeError("conv2d: bias " + shape_str(bias.shape()) + " does not fit weight " + shape_str(ws) +
                     " (expected [" + std::to_string(out_channels) + "])");
  if (bias.defined() && !options.bias)
    throw ValueError("conv2d: options.bias is false but a bias tensor was given");

  const WindowGeometry g = window_geometry(xs, {ws[2], ws[3]}, options.stride, options.padding, options.dilation);
  // The output and the im2col columns must be possible sizes before anything is allocated;
  // huge padding asks for more elements than can exist.
  shape_numel({n, out_channels, g.out_h, g.out_w}, "conv2d");
  shape_numel({n, g.out_h, g.out_w, channels, ws[2], ws[3]}, "conv2d");
  const int64_t rows = n * g.out_h * g.out_w, taps = channels * ws[2] * ws[3];
  // Columns [C·kh·kw, N·OH·OW] make the whole batch one GEMM, weight [OC, C·kh·kw] times columns,
  // whose [OC, N·OH·OW] result needs one copy to NCHW (far cheaper than every later op walking a
  // permuted view).
  if (groups == 1) {
    // The bias rides along as the weight's last column against a row of ones: its gradient then
    // comes out of the weight's GEMM instead of a separate reduction.
    const bool fold_bias = bias.defined();
    Tensor w2 = weight.reshape({out_channels, taps});
    if (fold_bias) w2 = concat({w2, bias.reshape({out_channels, 1})}, 1);
    Tensor y = matmul(w2, columns(input, g, fold_bias));  // [OC, N·OH·OW]
    return y.reshape({out_channels, n, g.out_h, g.out_w}).permute({1, 0, 2, 3}).contiguous();
  }
  // Group k owns rows [k·C/G·kh·kw, (k+1)·C/G·kh·kw) of the columns (channel-major) and output
  // channels [k·OC/G, (k+1)·OC/G): one batched GEMM over the groups.
  const int64_t group_taps = taps / groups, group_out = out_channels / groups;
  Tensor gcols = columns(input, g, false).reshape({groups, group_taps, rows});
  Tensor gw = weight.reshape({groups, group_out, group_taps});
  Tensor y = matmul(gw, gcols).reshape({out_channels, rows});
  if (bias.defined()) y = y + bias.reshape({out_channels, 1});
  return y.reshape({out_channels, n, g.out_h, g.out_w}).permute({1, 0, 2, 3}).contiguous();
}

Conv2d::Conv2d(int64_t in, int64_t out, Size2 kernel, Conv2dOptions opts)
    : Module("Conv2d"), in_channels(in), out_channels(out), kernel_size(kernel), options(opts) {
  if (in <= 0 || out <= 0)
    throw ValueError("Conv2d: in_channels and out_channels must be positive, got " + std::to_string(in) +
                     " and " + std::to_string(out));
  if (kernel.h <= 0 || kernel.w <= 0)
    throw ValueError("Conv2d: kernel_size must be positive, got " + size2_str(kernel));
  if (opts.groups <= 0 || in % opts.groups != 0 || out % opts.groups != 0)
    throw ValueError("Conv2d: groups=" + std::to_string(opts.groups) +
                     " must be positive and divide in_channels " + std::to_string(in) +
                     " and out_channels " + std::to_string(out));
  shape_numel({out, in / opts.groups, kernel.h, kernel.w}, "Conv2d");  // name the module, not empty()
  weight = register_parameter("weight", empty({out, in / opts.groups, kernel.h, kernel.w}));
  if (opts.bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void Conv2d::reset_parameters() {
  // LibTorch: kaiming_uniform_(a = sqrt(5)) on the weight, which is U(±1/sqrt(fan_in)).
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::calculate_fan_in_and_fan_out(weight).fan_in));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Conv2d::forward(const Tensor& input) { return functional::conv2d(input, weight, bias, options); }

std::string Conv2d::extra_repr() const {
  std::string r = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + pair_str(kernel_size) + ", stride=" + pair_str(options.stride);
  if (options.padding != Size2(0)) r += ", padding=" + pair_str(options.padding);
  if (options.dilation != Size2(1)) r += ", dilation=" + pair_str(options.dilation);
  if (options.groups != 1) r += ", groups=" + std::to_string(options.groups);
  if (!bias.defined()) r += ", bias=false";
  return r;
}

}  // namespace tapeflow::nn

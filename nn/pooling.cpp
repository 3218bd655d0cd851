// SPDX-License-Identifier: MIT
// Pooling. max_pool2d is one primitive (autograd/ops_window.cpp): a kernel finds each window's
// first maximum and keeps its position, to which the gradient (and the gradient of the gradient)
// is routed, as in PyTorch. avg_pool2d is a convolution of each plane with a constant
// 1/(kh·kw) kernel, so it has no backward code of its own.
#include "pooling.hpp"

#include <vector>

#include "../autograd/detail/window_ops.hpp"
#include "../tensor/ops.hpp"
#include "detail/size2_format.hpp"
#include "detail/window_span.hpp"

namespace tapeflow::nn {

namespace {

using detail::pair_str;
using detail::size2_str;

void check_input(const char* op, const Tensor& x) {
  const std::string name(op);
  if (!x.defined()) throw ValueError(name + ": got an undefined input");
  if (x.dim() != 3 && x.dim() != 4)
    throw ShapeError(name + ": expected input [N, C, H, W] (or unbatched [C, H, W]), got " + shape_str(x.shape()));
  if (!is_floating(x.dtype())) throw DTypeError(name + ": needs a floating input, got " + dtype_name(x.dtype()));
}

/// Validates a pooling geometry and returns the output size {OH, OW}. Padding is limited to
/// half the kernel, as in PyTorch: without dilation every window then holds a real element (a
/// dilated window may hold padding only; max_pool2d gives -inf there, as PyTorch does).
Size2 pool_output(const char* op, const Shape& x, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation) {
  const std::string name(op);
  if (kernel.h <= 0 || kernel.w <= 0) throw ValueError(name + ": kernel size must be positive, got " + size2_str(kernel));
  if (stride.h <= 0 || stride.w <= 0) throw ValueError(name + ": stride must be positive, got " + size2_str(stride));
  if (dilation.h <= 0 || dilation.w <= 0)
    throw ValueError(name + ": dilation must be positive, got " + size2_str(dilation));
  if (padding.h < 0 || padding.w < 0)
    throw ValueError(name + ": padding must be non-negative, got " + size2_str(padding));
  if (padding.h > kernel.h / 2 || padding.w > kernel.w / 2)
    throw ValueError(name + ": padding " + size2_str(padding) + " must be at most half the kernel size " +
                     size2_str(kernel));
  const auto [span, padded] = detail::window_span(name, x[2], x[3], kernel, padding, dilation);
  if (span.h > padded.h || span.w > padded.w)
    throw ShapeError(name + ": kernel " + size2_str(kernel) +
                     (span == kernel ? std::string() : " (dilated to " + size2_str(span) + ")") +
                     " is larger than the padded input " + size2_str(padded) + " of input " + shape_str(x));
  const Size2 out{(padded.h - span.h) / stride.h + 1, (padded.w - span.w) / stride.w + 1};
  // The output, and a padded input of avg_pool2d's convolution, must be possible sizes.
  shape_numel({x[0], x[1], padded.h, padded.w}, op);
  shape_numel({kernel.h, kernel.w, out.h, out.w}, op);
  return out;
}

}  // namespace

Tensor functional::max_pool2d(const Tensor& input, Size2 kernel, const MaxPool2dOptions& o) {
  check_input("max_pool2d", input);
  if (input.dim() == 3) return max_pool2d(input.unsqueeze(0), kernel, o).squeeze(0);
  const Size2 stride = o.stride.or_kernel(kernel), dil = o.dilation;
  const Size2 out = pool_output("max_pool2d", input.shape(), kernel, stride, o.padding, dil);
  return tapeflow::detail::max_pool2d(input, {kernel.h, kernel.w, stride.h, stride.w, o.padding.h, o.padding.w, dil.h, dil.w,
                                              out.h, out.w});
}

Tensor functional::avg_pool2d(const Tensor& input, Size2 kernel, const AvgPool2dOptions& o) {
  check_input("avg_pool2d", input);
  if (input.dim() == 3) return avg_pool2d(input.unsqueeze(0), kernel, o).squeeze(0);
  const Size2 stride = o.stride.or_kernel(kernel);
  const Size2 out = pool_output("avg_pool2d", input.shape(), kernel, stride, o.padding, 1);
  const int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  // Each plane convolved with a constant kernel: the window sums (zero padding) as one GEMM.
  const Options like{.dtype = input.dtype(), .device = input.device()};
  const bool divide_by_taps = o.count_include_pad || (o.padding.h == 0 && o.padding.w == 0);
  const double scale = divide_by_taps ? 1.0 / static_cast<double>(kernel.h * kernel.w) : 1.0;
  Tensor sums = functional::conv2d(input.reshape({n * c, 1, h, w}), full({1, 1, kernel.h, kernel.w}, scale, like),
                                   Tensor(), {.stride = stride, .padding = o.padding})
                    .reshape({n, c, out.h, out.w});
  if (divide_by_taps) return sums;
  // Divide each window by its in-bounds taps: a constant [OH, OW] that broadcasts.
  auto in_bounds = [](int64_t start, int64_t k, int64_t size) {
    int64_t count = 0;
    for (int64_t i = 0; i < k; ++i) count += start + i >= 0 && start + i < size;
    return static_cast<double>(count);
  };
  std::vector<double> count(static_cast<std::size_t>(out.h * out.w));
  for (int64_t i = 0; i < out.h; ++i)
    for (int64_t j = 0; j < out.w; ++j)
      count[i * out.w + j] = in_bounds(i * stride.h - o.padding.h, kernel.h, h) *
                             in_bounds(j * stride.w - o.padding.w, kernel.w, w);
  return sums / tensor(count, {out.h, out.w}, like);
}

MaxPool2d::MaxPool2d(Size2 kernel, MaxPool2dOptions opts) : Module("MaxPool2d"), kernel_size(kernel), options(opts) {}
Tensor MaxPool2d::forward(const Tensor& input) { return functional::max_pool2d(input, kernel_size, options); }
std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + pair_str(kernel_size) + ", stride=" + pair_str(options.stride.or_kernel(kernel_size)) +
         ", padding=" + pair_str(options.padding) + ", dilation=" + pair_str(options.dilation);
}

AvgPool2d::AvgPool2d(Size2 kernel, AvgPool2dOptions opts) : Module("AvgPool2d"), kernel_size(kernel), options(opts) {}
Tensor AvgPool2d::forward(const Tensor& input) { return functional::avg_pool2d(input, kernel_size, options); }
std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + pair_str(kernel_size) + ", stride=" + pair_str(options.stride.or_kernel(kernel_size)) +
         ", padding=" + pair_str(options.padding) +
         ", count_include_pad=" + (options.count_include_pad ? "true" : "false");
}

}  // namespace tapeflow::nn

// SPDX-License-Identifier: MIT
// Pooling without new backward code. avg_pool2d is a convolution of each plane with a constant
// 1/(kh·kw) kernel. max_pool2d finds each window's first maximum without recording (a gather of
// the windows, tap-major, then a sweep of elementwise comparisons over the taps) and then
// gathers it from the input with index_select, so the gradient (and the gradient of the gradient) flows through
// index_select to exactly that element, as in PyTorch.
// NOTE: the obvious "gather windows, then max over the window axis" spends most of its time in
// the reduction kernel's per-output set-up (hundreds of thousands of 4-element reductions);
// the sweep is a few flat elementwise passes.
#include "pooling.hpp"

#include <limits>
#include <utility>
#include <vector>

#include "../autograd/tape.hpp"
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
/// half the kernel, as in PyTorch: every window then holds at least one real element.
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
  // The padded copy and the tap index are built before any output: they must be possible sizes.
  shape_numel({x[0], x[1], padded.h, padded.w}, op);
  shape_numel({kernel.h, kernel.w, out.h, out.w}, op);
  return out;
}

/// x [N, C, H, W] with `pad` rows and columns of `value` on each side (differentiable).
Tensor pad2d(const Tensor& x, Size2 pad, double value) {
  const Options like{.dtype = x.dtype(), .device = x.device()};
  Tensor r = x;
  if (pad.h > 0) {
    Tensor rows = full({x.size(0), x.size(1), pad.h, x.size(3)}, value, like);
    r = concat({rows, r, rows}, 2);
  }
  if (pad.w > 0) {
    Tensor cols = full({x.size(0), x.size(1), r.size(2), pad.w}, value, like);
    r = concat({cols, r, cols}, 3);
  }
  return r;
}

/// Small thread-local caches of index tensors, kept on the CPU and moved to the device per call
/// (so no device memory outlives its runtime at exit).
using Key = std::vector<int64_t>;
template <typename Build>
Tensor cached(std::vector<std::pair<Key, Tensor>>& cache, Key key, Device device, Build&& build) {
  for (const auto& [k, t] : cache)
    if (k == key) return t.to(device);
  Tensor t = build();
  if (cache.size() >= 8) cache.erase(cache.begin());
  cache.emplace_back(std::move(key), t);
  return t.to(device);
}

/// Int64 [N·C·OH·OW]: flat row-major position, in a [N, C, Hp, Wp] tensor, of each window's
/// top-left tap.
Tensor window_origins(const Shape& padded, Size2 out, Size2 stride, Device device) {
  thread_local std::vector<std::pair<Key, Tensor>> cache;
  Key key{padded[0], padded[1], padded[2], padded[3], out.h, out.w, stride.h, stride.w};
  return cached(cache, std::move(key), device, [&] {
    const int64_t planes = padded[0] * padded[1], plane = padded[2] * padded[3];
    std::vector<int64_t> v(static_cast<std::size_t>(planes * out.h * out.w));
    std::size_t at = 0;
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t i = 0; i < out.h; ++i)
        for (int64_t j = 0; j < out.w; ++j) v[at++] = p * plane + i * stride.h * padded[3] + j * stride.w;
    return tensor(v, {}, {.dtype = Int64});
  });
}

/// Int64 [kh·kw·OH·OW]: position in one [Hp, Wp] plane of tap k of window p, at k·OH·OW + p
/// (tap-major, so each tap of every window is one contiguous run).
Tensor tap_index(int64_t wp, Size2 kernel, Size2 out, Size2 stride, Size2 dil, Device device) {
  thread_local std::vector<std::pair<Key, Tensor>> cache;
  Key key{wp, kernel.h, kernel.w, out.h, out.w, stride.h, stride.w, dil.h, dil.w};
  return cached(cache, std::move(key), device, [&] {
    std::vector<int64_t> v(static_cast<std::size_t>(kernel.h * kernel.w * out.h * out.w));
    std::size_t at = 0;
    for (int64_t ki = 0; ki < kernel.h; ++ki)
      for (int64_t kj = 0; kj < kernel.w; ++kj)
        for (int64_t i = 0; i < out.h; ++i)
          for (int64_t j = 0; j < out.w; ++j) v[at++] = (i * stride.h + ki * dil.h) * wp + j * stride.w + kj * dil.w;
    return tensor(v, {}, {.dtype = Int64});
  });
}

}  // namespace

Tensor functional::max_pool2d(const Tensor& input, Size2 kernel, const MaxPool2dOptions& o) {
  check_input("max_pool2d", input);
  if (input.dim() == 3) return max_pool2d(input.unsqueeze(0), kernel, o).squeeze(0);
  const Size2 stride = o.stride.or_kernel(kernel), dil = o.dilation;
  const Size2 out = pool_output("max_pool2d", input.shape(), kernel, stride, o.padding, dil);
  const int64_t n = input.size(0), c = input.size(1);
  Tensor xp = pad2d(input, o.padding, -std::numeric_limits<double>::infinity());
  const int64_t wp = xp.size(3), taps = kernel.h * kernel.w, windows = out.h * out.w;
  Tensor index;
  {
    NoGradGuard off;
    // Every window's taps, tap-major per plane: [N·C, taps, OH·OW] (one gather).
    Tensor w = index_select(xp.reshape({n * c, xp.size(2) * wp}), 1, tap_index(wp, kernel, out, stride, dil, input.device()))
                   .reshape({n * c, taps, windows});
    // Sweep the taps in order keeping the running maximum; a tap takes over only when strictly
    // larger, so ties keep the first. Tap k sits at offset_k = i·dil·Wp + j·dil from its
    // window's first element, and offsets grow with k, so the winner's offset is the largest
    // offset_k among the taps that took over (0, tap 0's, if none did).
    Tensor best = w.slice(1, 0, 1), offset;
    for (int64_t k = 1; k < taps; ++k) {
      Tensor t = w.slice(1, k, k + 1);
      const int64_t i = k / kernel.w, j = k % kernel.w;
      Tensor took = (t > best).to(Int64) * static_cast<double>(i * dil.h * wp + j * dil.w);
      offset = offset.defined() ? maximum(offset, took) : took;
      if (k + 1 < taps) best = maximum(best, t);
    }
    index = window_origins(xp.shape(), out, stride, input.device());
    if (offset.defined()) index = index + offset.reshape({-1});
  }
  // The gradient (and its own gradient) flows through this gather to exactly the winners.
  return index_select(xp.reshape({-1}), 0, index).reshape({n, c, out.h, out.w});
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

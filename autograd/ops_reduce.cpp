// SPDX-License-Identifier: MIT
#include "../tensor/detail/check.hpp"
#include "../tensor/detail/kernels.hpp"
#include "detail/node.hpp"

namespace tapeflow {

using namespace detail;

namespace {

// The input shape with reduced axes set to 1: where a reduction's gradient is reshaped to
// before it is expanded back.
Shape keepdim_shape(const Shape& in, const Axes& axes) {
  Shape s = in;
  if (axes.empty()) std::fill(s.begin(), s.end(), 1);
  for (int64_t a : axes)
    if (a < static_cast<int64_t>(s.size())) s[a] = 1;
  return s;
}

struct Sum {  // dx = g broadcast back over the reduced axes
  static constexpr const char* name = "sum";
  static Tensor forward(Ctx& c, const Tensor& x, const Axes& axes, bool keepdim) {
    c.shape[0] = x.shape();
    c.axes = kernel::normalize_axes("sum", axes, x.dim());
    return kernel::reduce("sum", ReduceKind::Sum, x, axes, keepdim);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    return {g.reshape(keepdim_shape(c.shape[0], c.axes)).expand(c.shape[0])};
  }
};

// max/min values: the gradient is shared equally among the elements that attain the extreme.
template <ReduceKind Kind>
struct Extreme {  // dx = g [x == y] / count(x == y)
  static constexpr const char* name = Kind == ReduceKind::Max ? "max" : "min";
  static Tensor forward(Ctx& c, const Tensor& x, const Axes& axes, bool keepdim) {
    c.shape[0] = x.shape();
    c.axes = kernel::normalize_axes(name, axes, x.dim());
    Tensor y = kernel::reduce(name, Kind, x, axes, keepdim);
    c.save(x);
    c.save_output(y);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    const Shape kept = keepdim_shape(c.shape[0], c.axes);
    Tensor x = c.saved(0), y = c.saved(1).reshape(kept);
    Tensor hit = kernel::cast(kernel::binary(BinaryKind::Eq, x, y), g.dtype());
    Tensor count = kernel::reduce("sum", ReduceKind::Sum, hit, c.axes, true);
    return {g.reshape(kept) * (hit / count)};
  }
};

}  // namespace

Tensor sum(const Tensor& x, const Axes& axes, bool keepdim) {
  TAPEFLOW_CHECK(x.defined(), ValueError, "sum", "got an undefined tensor");
  if (!is_floating(x.dtype())) return kernel::reduce("sum", ReduceKind::Sum, x, axes, keepdim);
  return apply1<Sum>(x, axes, keepdim);
}

Tensor mean(const Tensor& x, const Axes& axes, bool keepdim) {
  TAPEFLOW_CHECK(x.defined() && is_floating(x.dtype()), DTypeError, "mean",
                 "expects a floating tensor, got ", x.defined() ? dtype_name(x.dtype()) : "undefined");
  Axes ax = kernel::normalize_axes("mean", axes, x.dim());
  int64_t count = 1;
  if (ax.empty()) count = x.numel();
  for (int64_t a : ax)
    if (a < x.dim()) count *= x.shape()[a];
  return sum(x, ax, keepdim) / static_cast<double>(count);
}

Tensor max(const Tensor& x, const Axes& axes, bool keepdim) {
  if (!is_floating(x.dtype())) return kernel::reduce("max", ReduceKind::Max, x, axes, keepdim);
  return apply1<Extreme<ReduceKind::Max>>(x, axes, keepdim);
}
Tensor min(const Tensor& x, const Axes& axes, bool keepdim) {
  if (!is_floating(x.dtype())) return kernel::reduce("min", ReduceKind::Min, x, axes, keepdim);
  return apply1<Extreme<ReduceKind::Min>>(x, axes, keepdim);
}

Tensor argmax(const Tensor& x, std::optional<int64_t> axis, bool keepdim) {
  TAPEFLOW_CHECK(x.dtype() != DType::Bool, DTypeError, "argmax", "expects a numeric tensor, got bool");
  if (!axis) return kernel::reduce("argmax", ReduceKind::ArgMax, x.reshape({-1}), {}, false);
  return kernel::reduce("argmax", ReduceKind::ArgMax, x, {*axis}, keepdim);
}
Tensor argmin(const Tensor& x, std::optional<int64_t> axis, bool keepdim) {
  TAPEFLOW_CHECK(x.dtype() != DType::Bool, DTypeError, "argmin", "expects a numeric tensor, got bool");
  if (!axis) return kernel::reduce("argmin", ReduceKind::ArgMin, x.reshape({-1}), {}, false);
  return kernel::reduce("argmin", ReduceKind::ArgMin, x, {*axis}, keepdim);
}

Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdim) {
  // log sum exp(x) = m + log sum exp(x - m) for any constant m; m = max keeps exp <= 1.
  // Over an empty axis the sum is 0 and the result -inf (as in PyTorch); max has no value there.
  Tensor m = x.numel() == 0
                 ? zeros(keepdim_shape(x.shape(), kernel::normalize_axes("logsumexp", axes, x.dim())),
                         {.dtype = x.dtype(), .device = x.device()})
                 : kernel::reduce("logsumexp", ReduceKind::Max, x, axes, true);
  // Shift by 0 where the maximum is not finite: -inf - -inf and inf - inf would be NaN, while
  // log(sum(exp(x))) is rightly -inf (all -inf) or inf there. m - m is 0 exactly when m is finite.
  Tensor zero = zeros_like(m);
  m = kernel::where(kernel::binary(BinaryKind::Eq, kernel::binary(BinaryKind::Sub, m, m), zero), m, zero);
  Tensor r = log(sum(exp(x - m), axes, true)) + m;
  if (keepdim) return r;
  Axes ax = kernel::normalize_axes("logsumexp", axes, x.dim());
  Shape out;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!ax.empty() && std::find(ax.begin(), ax.end(), d) == ax.end()) out.push_back(x.shape()[d]);
  return r.reshape(out);
}

namespace detail {
Tensor sum_to(const Tensor& g, const Shape& shape) {
  const Shape& gs = g.shape();
  if (gs == shape) return g;
  const int64_t lead = static_cast<int64_t>(gs.size()) - static_cast<int64_t>(shape.size());
  Axes axes;
  for (int64_t d = 0; d < static_cast<int64_t>(gs.size()); ++d)
    if (d < lead || (shape[d - lead] == 1 && gs[d] != 1)) axes.push_back(d);
  if (axes.empty()) return g.reshape(shape);
  return sum(g, axes, true).reshape(shape);
}
}  // namespace detail

}  // namespace tapeflow

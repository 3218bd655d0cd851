// SPDX-License-Identifier: MIT
// Sliding-window primitives: im2col and col2im, each the other's backward (both are linear, and
// each is the other's adjoint), and max pooling, whose backward scatters into the saved argmax
// and whose double backward gathers at it again. Kernels in backends/cpu/window.cpp.
#include "../tensor/detail/kernels.hpp"
#include "detail/node.hpp"
#include "detail/window_ops.hpp"

namespace tapeflow {

using namespace detail;

namespace {

/// Padding rows of the columns: what im2col writes in its extra last row, if any. The ones of a
/// folded bias are a constant, so the adjoint of col2im writes zeros there instead.
enum class ExtraRow : int64_t { None, Ones, Zeros };

Tensor contiguous_of(const Tensor& t) { return t.is_contiguous() ? t : kernel::cast(t, t.dtype()); }

Axes pack(const Window2d& w) { return {w.kh, w.kw, w.sh, w.sw, w.ph, w.pw, w.dh, w.dw, w.oh, w.ow}; }
Window2d unpack(const Axes& a) { return {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]}; }

Tensor im2col_kernel(const Tensor& x, const Window2d& w, ExtraRow extra) {
  Tensor xc = contiguous_of(x);
  const Shape& s = xc.shape();
  const int64_t rows = s[1] * w.kh * w.kw + (extra == ExtraRow::None ? 0 : 1);
  Tensor out = make_tensor({rows, s[0] * w.oh * w.ow}, xc.dtype(), xc.device(), "conv2d");
  if (out.numel() > 0)
    xc.impl()->storage->backend->im2col(out.impl()->view(), xc.impl()->view(), w, extra == ExtraRow::Ones ? 1.0 : 0.0);
  return out;
}

Tensor col2im_kernel(const Tensor& cols, const Shape& x_shape, const Window2d& w) {
  Tensor cc = contiguous_of(cols);
  Tensor out = make_tensor(x_shape, cc.dtype(), cc.device(), "conv2d");
  if (out.numel() > 0) cc.impl()->storage->backend->col2im(out.impl()->view(), cc.impl()->view(), w);
  return out;
}

Tensor apply_im2col(const Tensor& x, const Window2d& w, ExtraRow extra);

struct Im2Col {  // linear; dx = col2im(g)
  static constexpr const char* name = "im2col";
  static Tensor forward(Ctx& c, const Tensor& x, const Window2d& w, ExtraRow extra) {
    c.shape[0] = x.shape();
    c.axes = pack(w);
    return im2col_kernel(x, w, extra);
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {col2im(g, c.shape[0], unpack(c.axes))}; }
};

struct Col2Im {  // linear; dcols = im2col(g), with zeros in the (constant) extra row
  static constexpr const char* name = "col2im";
  static Tensor forward(Ctx& c, const Tensor& cols, const Shape& x_shape, const Window2d& w) {
    c.flag = cols.shape()[0] > x_shape[1] * w.kh * w.kw;  // has an extra row
    c.axes = pack(w);
    return col2im_kernel(cols, x_shape, w);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    return {apply_im2col(g, unpack(c.axes), c.flag ? ExtraRow::Zeros : ExtraRow::None)};
  }
};

Tensor apply_im2col(const Tensor& x, const Window2d& w, ExtraRow extra) { return apply1<Im2Col>(x, w, extra); }

Tensor plane_gather_kernel(const Tensor& x, const Tensor& index) {
  Tensor xc = contiguous_of(x);
  Tensor out = make_tensor(index.shape(), xc.dtype(), xc.device(), "max_pool2d");
  if (out.numel() > 0)
    xc.impl()->storage->backend->plane_gather(out.impl()->view(), xc.impl()->view(), index.impl()->view());
  return out;
}

Tensor plane_scatter_kernel(const Tensor& src, const Tensor& index, const Shape& shape) {
  Tensor sc = contiguous_of(src);
  Tensor out = make_tensor(shape, sc.dtype(), sc.device(), "max_pool2d");
  Backend& be = *sc.impl()->storage->backend;
  if (sc.numel() == 0) {
    if (out.numel() > 0) be.fill(out.impl()->view(), 0.0);
  } else if (out.numel() > 0) {
    be.plane_scatter_add(out.impl()->view(), index.impl()->view(), sc.impl()->view());
  }
  return out;
}

// The argmax index (Int64, the output's shape, positions within each [H, W] plane) is an
// attribute, never differentiated.
struct PlaneScatter;
struct PlaneGather {  // y = x[plane, index];  dx = zeros with g added at index
  static constexpr const char* name = "max_pool2d_gather";
  static Tensor forward(Ctx& c, const Tensor& x, const Tensor& index) {
    c.shape[0] = x.shape();
    c.save(index);
    return plane_gather_kernel(x, index);
  }
  static Grads backward(const Ctx& c, const Tensor& g);
};
struct PlaneScatter {  // plane_gather's adjoint;  dg = gg[plane, index]
  static constexpr const char* name = "max_pool2d_backward";
  static Tensor forward(Ctx& c, const Tensor& g, const Tensor& index, const Shape& shape) {
    c.save(index);
    return plane_scatter_kernel(g, index, shape);
  }
  static Grads backward(const Ctx& c, const Tensor& gg) { return {apply1<PlaneGather>(gg, c.saved(0))}; }
};
Grads PlaneGather::backward(const Ctx& c, const Tensor& g) {
  return {apply1<PlaneScatter>(g, c.saved(0), c.shape[0])};
}

struct MaxPool2d {  // y = x at each window's first maximum;  dx = g scattered to the argmax
  static constexpr const char* name = "max_pool2d";
  static Tensor forward(Ctx& c, const Tensor& x, const Window2d& w) {
    Tensor xc = contiguous_of(x);
    const Shape out_shape{xc.shape()[0], xc.shape()[1], w.oh, w.ow};
    Tensor y = make_tensor(out_shape, xc.dtype(), xc.device(), "max_pool2d");
    Tensor argmax = make_tensor(out_shape, DType::Int64, xc.device(), "max_pool2d");
    if (y.numel() > 0)
      xc.impl()->storage->backend->max_pool2d(y.impl()->view(), argmax.impl()->view(), xc.impl()->view(), w);
    c.shape[0] = x.shape();
    if (c.recording()) c.save(argmax);
    return y;
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {apply1<PlaneScatter>(g, c.saved(0), c.shape[0])}; }
};

}  // namespace

Tensor detail::im2col(const Tensor& x, const Window2d& w, bool ones_row) {
  return apply_im2col(x, w, ones_row ? ExtraRow::Ones : ExtraRow::None);
}

Tensor detail::col2im(const Tensor& cols, const Shape& x_shape, const Window2d& w) {
  return apply1<Col2Im>(cols, x_shape, w);
}

Tensor detail::max_pool2d(const Tensor& x, const Window2d& w) { return apply1<MaxPool2d>(x, w); }

}  // namespace tapeflow

// SPDX-License-Identifier: MIT
#include "kernels.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "check.hpp"

namespace tapeflow::detail::kernel {

namespace {

// An operand's View stretched to `shape` (rank r): missing and size-1 dims get stride 0.
// The arrays live in the caller's frame; nothing is allocated.
struct Broadcast {
  int64_t strides[kMaxDims];
  View view;
  Broadcast(const TensorImpl& t, const Shape& shape) {
    const int r = static_cast<int>(shape.size()), tr = static_cast<int>(t.shape.size());
    for (int d = 0; d < r; ++d) {
      int td = d - (r - tr);
      strides[d] = (td < 0 || t.shape[td] == 1) ? 0 : t.strides[td];
    }
    view = View{t.data(), t.dtype, r, shape.data(), strides};
  }
};

Tensor new_like_shape(Shape shape, DType dtype, const Tensor& device_of) {
  return make_tensor(std::move(shape), dtype, device_of.impl()->device());
}

}  // namespace

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  Device da = a.impl()->device(), db = b.impl()->device();
  TAPEFLOW_CHECK(da == db, DeviceError, op, "tensors are on different devices: ", da, " and ", db);
}

int64_t normalize_axis(const char* op, int64_t axis, int64_t rank) {
  const int64_t n = std::max<int64_t>(rank, 1);  // a 0-d tensor accepts axis 0 / -1
  TAPEFLOW_CHECK(axis >= -n && axis < n, ShapeError, op, "axis ", axis,
                 " is out of range for a tensor of rank ", rank);
  return axis < 0 ? axis + n : axis;
}

Axes normalize_axes(const char* op, const Axes& axes, int64_t rank) {
  Axes out;
  for (int64_t a : axes) out.push_back(normalize_axis(op, a, rank));
  std::sort(out.begin(), out.end());
  TAPEFLOW_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), ShapeError, op,
                 "axis repeated in ", Shape(axes));
  return out;
}

Tensor unary(UnaryKind kind, const Tensor& x) {
  const TensorImpl& xi = *x.impl();
  Tensor out = new_like_shape(xi.shape, xi.dtype, x);
  Broadcast xv(xi, xi.shape);
  xi.storage->backend->unary(kind, out.impl()->view(), xv.view);
  return out;
}

Tensor binary(BinaryKind kind, const Tensor& a, const Tensor& b) {
  const TensorImpl &ai = *a.impl(), &bi = *b.impl();
  if (ai.storage->backend != bi.storage->backend) check_same_device(binary_name(kind), a, b);
  Tensor out = new_like_shape(broadcast_shapes(ai.shape, bi.shape, binary_name(kind)),
                              is_comparison(kind) ? DType::Bool : ai.dtype, a);
  const Shape& s = out.impl()->shape;
  Broadcast av(ai, s), bv(bi, s);
  ai.storage->backend->binary(kind, out.impl()->view(), av.view, bv.view);
  return out;
}

void binary_inplace(BinaryKind kind, const Tensor& self, const Tensor& other) {
  const char* op = binary_name(kind);
  TensorImpl& si = *self.impl();
  const TensorImpl& oi = *other.impl();
  check_same_device(op, self, other);
  Shape shape = broadcast_shapes(si.shape, oi.shape, op);
  TAPEFLOW_CHECK(shape == si.shape, ShapeError, op, "in-place result of shape ", shape,
                 " does not fit the tensor's shape ", si.shape);
  // Writing through a view with stride 0 (an expand) would race values into one slot.
  for (std::size_t d = 0; d < si.shape.size(); ++d)
    TAPEFLOW_CHECK(si.strides[d] != 0 || si.shape[d] <= 1, ValueError, op,
                   "in-place write into an expanded (stride 0) view of shape ", si.shape);
  // An operand that overlaps self in any other way than element for element (x.add_(x.t()))
  // would read values already overwritten, in an order the loop engine chooses: copy it first.
  const bool same_view = oi.storage == si.storage && oi.offset == si.offset && oi.shape == si.shape &&
                         oi.strides == si.strides;
  Tensor rhs = oi.dtype == si.dtype && (oi.storage != si.storage || same_view) ? other : cast(other, si.dtype);
  Broadcast ov(*rhs.impl(), si.shape);
  si.storage->backend->binary(kind, si.view(), si.view(), ov.view);
  ++si.storage->version;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device("where", cond, a);
  check_same_device("where", a, b);
  const TensorImpl &ci = *cond.impl(), &ai = *a.impl(), &bi = *b.impl();
  Shape shape = broadcast_shapes(broadcast_shapes(ci.shape, ai.shape, "where"), bi.shape, "where");
  Tensor out = new_like_shape(shape, ai.dtype, a);
  const Shape& s = out.impl()->shape;
  Broadcast cv(ci, s), av(ai, s), bv(bi, s);
  ai.storage->backend->where(out.impl()->view(), cv.view, av.view, bv.view);
  return out;
}

Tensor cast(const Tensor& x, DType dtype) {
  const TensorImpl& xi = *x.impl();
  Tensor out = new_like_shape(xi.shape, dtype, x);
  xi.storage->backend->copy(out.impl()->view(), xi.view());
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  const Tensor c = x.is_contiguous() ? x : cast(x, x.dtype());
  const TensorImpl& ci = *c.impl();
  Tensor out = make_tensor(ci.shape, ci.dtype, device, "to");
  TensorImpl& oi = *out.impl();
  const std::size_t nbytes = static_cast<std::size_t>(ci.numel) * element_size(ci.dtype);
  if (ci.device().is_cpu()) {
    oi.storage->backend->copy_from_host(oi.data(), ci.data(), nbytes);
  } else if (device.is_cpu()) {
    ci.storage->backend->copy_to_host(oi.data(), ci.data(), nbytes);
  } else {  // GPU to GPU: staged through the host; rare enough not to need peer access
    Tensor host = to_device(c, Device::cpu());
    oi.storage->backend->copy_from_host(oi.data(), host.impl()->data(), nbytes);
  }
  return out;
}

void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.impl()->device() != src.impl()->device()) return copy_into(dst, to_device(src, dst.impl()->device()));
  TensorImpl& di = *dst.impl();
  const TensorImpl& si = *src.impl();
  Shape shape = broadcast_shapes(di.shape, si.shape, "copy_");
  TAPEFLOW_CHECK(shape == di.shape, ShapeError, "copy_", "source of shape ", si.shape,
                 " does not broadcast to the destination's shape ", di.shape);
  // Copying from storage that overlaps the destination would read values already overwritten.
  Tensor from = si.storage == di.storage ? cast(src, si.dtype) : src;
  Broadcast sv(*from.impl(), di.shape);
  di.storage->backend->copy(di.view(), sv.view);
  ++di.storage->version;
}

void fill(const Tensor& dst, double value) {
  TensorImpl& di = *dst.impl();
  di.storage->backend->fill(di.view(), value);
  ++di.storage->version;
}

Tensor reduce(const char* op, ReduceKind kind, const Tensor& x, const Axes& axes, bool keepdim) {
  const TensorImpl& xi = *x.impl();
  const int64_t rank = static_cast<int64_t>(xi.shape.size());
  Axes ax = normalize_axes(op, axes, rank);
  bool reduced[kMaxDims] = {};
  if (ax.empty()) std::fill(reduced, reduced + rank, true);
  for (int64_t a : ax)
    if (a < rank) reduced[a] = true;
  Shape kept_layout = xi.shape, result_shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) {
      TAPEFLOW_CHECK(xi.shape[d] > 0 || kind == ReduceKind::Sum, ValueError, op,
                     "cannot reduce the empty dimension ", d, " of shape ", xi.shape,
                     " (no identity for this reduction)");
      kept_layout[d] = 1;
      if (keepdim) result_shape.push_back(1);
    } else {
      result_shape.push_back(xi.shape[d]);
    }
  }
  DType out_dtype = xi.dtype;
  if (kind == ReduceKind::ArgMax || kind == ReduceKind::ArgMin) out_dtype = DType::Int64;
  if (kind == ReduceKind::Sum && (xi.dtype == DType::Bool || xi.dtype == DType::Int64)) out_dtype = DType::Int64;
  Tensor out = new_like_shape(kept_layout, out_dtype, x);
  if (xi.numel == 0) {
    xi.storage->backend->fill(out.impl()->view(), 0.0);  // the empty sum
  } else {
    xi.storage->backend->reduce(kind, out.impl()->view(), xi.view(), reduced);
  }
  if (result_shape != kept_layout) {
    out.impl()->shape = result_shape;
    out.impl()->strides = contiguous_strides(result_shape);
  }
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_device("matmul", a, b);
  const Shape &as = a.shape(), &bs = b.shape();
  const std::size_t ar = as.size(), br = bs.size();
  Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  Shape batch = broadcast_shapes(a_batch, b_batch, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(as[ar - 2]);
  out_shape.push_back(bs[br - 1]);
  shape_numel(out_shape, "matmul");  // expanded operands can ask for more elements than exist
  Tensor out = new_like_shape(out_shape, a.dtype(), a);
  // BLAS takes a matrix whose rows or columns are contiguous; anything else is copied once.
  auto blas_ready = [](const Tensor& t) {
    const auto& s = t.strides();
    const auto& n = t.shape();
    const std::size_t r = n.size();
    return (s[r - 1] == 1 && (s[r - 2] >= n[r - 1] || n[r - 2] == 1)) ||
           (s[r - 2] == 1 && (s[r - 1] >= n[r - 2] || n[r - 1] == 1));
  };
  Tensor A = blas_ready(a) ? a : cast(a, a.dtype());
  Tensor B = blas_ready(b) ? b : cast(b, b.dtype());
  Shape a_full = batch, b_full = batch;
  a_full.insert(a_full.end(), as.end() - 2, as.end());
  b_full.insert(b_full.end(), bs.end() - 2, bs.end());
  Broadcast av(*A.impl(), a_full), bv(*B.impl(), b_full);
  // Broadcast zeroes strides of size-1 dims; the matrix dims keep their real strides.
  const int r = static_cast<int>(out_shape.size());
  for (int d = r - 2; d < r; ++d) {
    av.strides[d] = A.strides()[A.dim() - (r - d)];
    bv.strides[d] = B.strides()[B.dim() - (r - d)];
  }
  a.impl()->storage->backend->matmul(out.impl()->view(), av.view, bv.view);
  return out;
}

Tensor softmax(SoftmaxKind kind, const Tensor& x, int64_t dim) {
  Tensor xc = x.is_contiguous() ? x : cast(x, x.dtype());
  Tensor out = new_like_shape(xc.shape(), xc.dtype(), xc);
  if (xc.numel() > 0)
    xc.impl()->storage->backend->softmax(kind, out.impl()->view(), xc.impl()->view(), static_cast<int>(dim));
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  Tensor x = logits.is_contiguous() ? logits : cast(logits, logits.dtype());
  Tensor t = targets.is_contiguous() ? targets : cast(targets, DType::Int64);
  Tensor out = new_like_shape({}, x.dtype(), x);
  x.impl()->storage->backend->cross_entropy(out.impl()->view(), x.impl()->view(), t.impl()->view());
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor xc = x.is_contiguous() ? x : cast(x, x.dtype());
  Tensor ic = index.is_contiguous() ? index : cast(index, DType::Int64);
  Shape shape = xc.shape();
  shape[dim] = ic.numel();
  Tensor out = new_like_shape(shape, xc.dtype(), xc);
  if (out.numel() > 0)
    xc.impl()->storage->backend->index_select(out.impl()->view(), xc.impl()->view(), static_cast<int>(dim),
                                              ic.impl()->view());
  return out;
}

Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = new_like_shape(shape, src.dtype(), src);
  Backend& be = *src.impl()->storage->backend;
  be.fill(out.impl()->view(), 0.0);
  Tensor sc = src.is_contiguous() ? src : cast(src, src.dtype());
  Tensor ic = index.is_contiguous() ? index : cast(index, DType::Int64);
  if (sc.numel() > 0) be.index_add(out.impl()->view(), static_cast<int>(dim), ic.impl()->view(), sc.impl()->view());
  return out;
}

}  // namespace tapeflow::detail::kernel

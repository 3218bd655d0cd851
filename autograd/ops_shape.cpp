// SPDX-License-Identifier: MIT
// Shape ops: views share storage (never copy); their backward rules map the gradient back.
#include <algorithm>
#include <numeric>
#include <optional>

#include "../tensor/detail/check.hpp"
#include "../tensor/detail/kernels.hpp"
#include "detail/index_range.hpp"
#include "detail/node.hpp"
#include "tape.hpp"

namespace tapeflow {

using namespace detail;

namespace {

Shape infer_shape(const char* op, const Shape& in, const Shape& requested) {
  TAPEFLOW_CHECK(requested.size() <= static_cast<std::size_t>(kMaxDims), ShapeError, op, "shape ", requested,
                 " has more than ", kMaxDims, " dimensions");
  Shape out = requested;
  const int64_t n = shape_numel(in);
  int64_t infer = -1;
  Shape known_sizes;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TAPEFLOW_CHECK(infer < 0, ShapeError, op, "only one size may be -1, got ", requested);
      infer = static_cast<int64_t>(i);
    } else {
      TAPEFLOW_CHECK(out[i] >= 0, ShapeError, op, "invalid size in ", requested);
      known_sizes.push_back(out[i]);
    }
  }
  const int64_t known = shape_numel(known_sizes, op);  // overflow-checked, before any division
  if (infer >= 0) {
    TAPEFLOW_CHECK(known != 0 && n % known == 0, ShapeError, op, "cannot reshape ", in, " (", n,
                   " elements) into ", requested);
    out[infer] = n / known;
  }
  TAPEFLOW_CHECK(shape_numel(out) == n, ShapeError, op, "cannot reshape ", in, " (", n,
                 " elements) into ", requested, " (", shape_numel(out), " elements)");
  return out;
}

// Strides that let `shape` view the same elements as (old_shape, old_strides), or nothing when
// the split/merge crosses a non-contiguous boundary (the rule LibTorch's view() uses).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape) {
  Shape strides(shape.size());
  if (old_shape.empty() || shape_numel(old_shape) == 0) return contiguous_strides(shape);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base = old_strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = old_strides[d - 1];
        tensor_numel = view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

struct View_ {  // dx = g reshaped back
  static constexpr const char* name = "view";
  static Tensor forward(Ctx& c, const Tensor& x, const Shape& shape, const Shape& strides) {
    c.shape[0] = x.shape();
    return make_view(x, shape, strides, x.offset());
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {g.reshape(c.shape[0])}; }
};

struct Copy {  // contiguous copy: dx = g
  static constexpr const char* name = "clone";
  static Tensor forward(Ctx&, const Tensor& x) { return kernel::cast(x, x.dtype()); }
  static Grads backward(const Ctx&, const Tensor& g) { return {g}; }
};

struct ToDevice {  // dx = g moved back
  static constexpr const char* name = "to";
  static Tensor forward(Ctx& c, const Tensor& x, Device device) {
    const Device from = x.device();
    c.i0 = static_cast<int64_t>(from.type);
    c.i1 = from.index;
    return kernel::to_device(x, device);
  }
  static Grads backward(const Ctx& c, const Tensor& g) {
    return {g.to(Device{static_cast<DeviceType>(c.i0), static_cast<int>(c.i1)})};
  }
};

struct Permute {  // dx = g permuted by the inverse
  static constexpr const char* name = "permute";
  static Tensor forward(Ctx& c, const Tensor& x, const Shape& dims) {
    Shape shape(dims.size()), strides(dims.size());
    c.axes.assign(dims.size(), 0);
    for (std::size_t i = 0; i < dims.size(); ++i) {
      shape[i] = x.shape()[dims[i]];
      strides[i] = x.strides()[dims[i]];
      c.axes[dims[i]] = static_cast<int64_t>(i);
    }
    return make_view(x, shape, strides, x.offset());
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {g.permute(c.axes)}; }
};

struct Expand {  // dx = g summed over the expanded dims
  static constexpr const char* name = "expand";
  static Tensor forward(Ctx& c, const Tensor& x, const Shape& shape) {
    c.shape[0] = x.shape();
    const int64_t r = static_cast<int64_t>(shape.size()), lead = r - x.dim();
    Shape strides(r, 0);
    for (int64_t d = lead; d < r; ++d)
      strides[d] = x.shape()[d - lead] == 1 && shape[d] != 1 ? 0 : x.strides()[d - lead];
    return make_view(x, shape, strides, x.offset());
  }
  static Grads backward(const Ctx& c, const Tensor& g) { return {sum_to(g, c.shape[0])}; }
};

struct SliceScatter;

struct Slice {  // dx = zeros with g written into the slice
  static constexpr const char* name = "slice";
  static Tensor forward(Ctx& c, const Tensor& x, int64_t dim, int64_t start, int64_t stop, int64_t step) {
    c.shape[0] = x.shape();
    c.i0 = dim, c.i1 = start, c.axes = {stop, step};
    Shape shape = x.shape(), strides = x.strides();
    // Not (stop - start + step - 1) / step: that overflows for a huge step.
    shape[dim] = stop > start ? (stop - start - 1) / step + 1 : 0;
    if (shape[dim] > 1) strides[dim] *= step;  // then step < size, so the product stays in range
    return make_view(x, shape, strides, x.offset() + start * x.strides()[dim]);
  }
  static Grads backward(const Ctx& c, const Tensor& g);
};

struct SliceScatter {  // slice's adjoint: y = zeros(shape) with g in the slice; dg = slice(gy)
  static constexpr const char* name = "slice_backward";
  static Tensor forward(Ctx& c, const Tensor& g, const Shape& shape, int64_t dim, int64_t start,
                        int64_t stop, int64_t step) {
    c.i0 = dim, c.i1 = start, c.axes = {stop, step};
    Tensor out = zeros(shape, {.dtype = g.dtype(), .device = g.device()});
    Shape strides = out.strides();
    if (g.shape()[dim] > 1) strides[dim] *= step;  // as in Slice::forward
    Tensor window = make_view(out, g.shape(), strides, start * out.strides()[dim]);
    kernel::copy_into(window, g);
    return out;
  }
  static Grads backward(const Ctx& c, const Tensor& gg) { return {slice(gg, c.i0, c.i1, c.axes[0], c.axes[1])}; }
};

Grads Slice::backward(const Ctx& c, const Tensor& g) {
  return {apply1<SliceScatter>(g, c.shape[0], c.i0, c.i1, c.axes[0], c.axes[1])};
}

struct IndexAdd;
struct IndexSelect {  // dx = zeros with g added at the indices
  static constexpr const char* name = "index_select";
  static Tensor forward(Ctx& c, const Tensor& x, int64_t dim, const Tensor& index) {
    c.shape[0] = x.shape();
    c.i0 = dim;
    c.save(index);
    return kernel::index_select(x, dim, index);
  }
  static Grads backward(const Ctx& c, const Tensor& g);
};
struct IndexAdd {  // index_select's adjoint; dg = index_select(gy)
  static constexpr const char* name = "index_select_backward";
  static Tensor forward(Ctx& c, const Tensor& g, const Shape& shape, int64_t dim, const Tensor& index) {
    c.i0 = dim;
    c.save(index);
    return kernel::index_add(shape, dim, index, g);
  }
  static Grads backward(const Ctx& c, const Tensor& gg) { return {index_select(gg, c.i0, c.saved(0))}; }
};
Grads IndexSelect::backward(const Ctx& c, const Tensor& g) {
  return {apply1<IndexAdd>(g, c.shape[0], c.i0, c.saved(0))};
}

// Concat takes any number of inputs, so it records itself instead of using applyN.
Grads concat_backward(const Ctx& c, const Tensor& g) {
  Grads r;
  int64_t at = 0;
  for (int64_t len : c.axes) {
    r.push_back(slice(g, c.i0, at, at + len));
    at += len;
  }
  return r;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  TAPEFLOW_CHECK(x.defined(), ValueError, "reshape", "got an undefined tensor");
  Shape s = infer_shape("reshape", x.shape(), shape);
  if (x.is_contiguous()) return apply1<View_>(x, s, contiguous_strides(s));
  if (auto strides = view_strides(x.shape(), x.strides(), s)) return apply1<View_>(x, s, *strides);
  return apply1<View_>(clone(x), s, contiguous_strides(s));
}

Tensor view(const Tensor& x, const Shape& shape) {
  TAPEFLOW_CHECK(x.defined(), ValueError, "view", "got an undefined tensor");
  Shape s = infer_shape("view", x.shape(), shape);
  auto strides = x.is_contiguous() ? std::optional<Shape>(contiguous_strides(s))
                                   : view_strides(x.shape(), x.strides(), s);
  TAPEFLOW_CHECK(strides.has_value(), ShapeError, "view", "a tensor of shape ", x.shape(),
                 " and strides ", x.strides(), " cannot be viewed as ", s,
                 " without copying; use reshape()");
  return apply1<View_>(x, s, *strides);
}

Tensor Tensor::to(Device device) const {
  TAPEFLOW_CHECK(defined(), ValueError, "to", "got an undefined tensor");
  if (device == this->device()) return *this;
  return apply1<ToDevice>(*this, device);
}

Tensor clone(const Tensor& x) {
  TAPEFLOW_CHECK(x.defined(), ValueError, "clone", "got an undefined tensor");
  return apply1<Copy>(x);
}

Tensor permute(const Tensor& x, const Shape& dims) {
  TAPEFLOW_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), ShapeError, "permute", "got ",
                 dims.size(), " dims ", dims, " for a tensor of shape ", x.shape());
  Shape norm(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    norm[i] = kernel::normalize_axis("permute", dims[i], x.dim());
    TAPEFLOW_CHECK(!seen[norm[i]], ShapeError, "permute", "dims ", dims, " repeat an axis");
    seen[norm[i]] = true;
  }
  return apply1<Permute>(x, norm);
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  TAPEFLOW_CHECK(x.defined(), ValueError, "transpose", "got an undefined tensor");
  if (x.dim() == 0) {
    // Axes 0 and -1 name a 0-d tensor's only "dimension"; anything else is out of range.
    kernel::normalize_axis("transpose", dim0, 0);
    kernel::normalize_axis("transpose", dim1, 0);
    return x;
  }
  Shape dims(x.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[kernel::normalize_axis("transpose", dim0, x.dim())],
            dims[kernel::normalize_axis("transpose", dim1, x.dim())]);
  return apply1<Permute>(x, dims);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  TAPEFLOW_CHECK(x.defined(), ValueError, "expand", "got an undefined tensor");
  TAPEFLOW_CHECK(static_cast<int64_t>(shape.size()) >= x.dim(), ShapeError, "expand", "cannot expand ",
                 x.shape(), " to fewer dims ", shape);
  TAPEFLOW_CHECK(shape.size() <= static_cast<std::size_t>(kMaxDims), ShapeError, "expand", "shape ", shape,
                 " has more than ", kMaxDims, " dimensions");
  Shape s = shape;
  const int64_t lead = static_cast<int64_t>(s.size()) - x.dim();
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    const int64_t have = d < lead ? 1 : x.shape()[d - lead];
    if (s[d] == -1) {
      TAPEFLOW_CHECK(d >= lead, ShapeError, "expand", "-1 is not allowed for a new leading dim in ", shape);
      s[d] = have;
    }
    TAPEFLOW_CHECK(have == s[d] || have == 1, ShapeError, "expand", "cannot expand ", x.shape(), " to ",
                   shape, " (dimension ", d, ": ", have, " vs ", s[d], ")");
  }
  shape_numel(s, "expand");  // a stride-0 view allocates nothing, but its element count must exist
  if (s == x.shape()) return apply1<View_>(x, s, x.strides());
  return apply1<Expand>(x, s);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  TAPEFLOW_CHECK(x.dim() > 0, ShapeError, "slice", "cannot slice a 0-d tensor");
  dim = kernel::normalize_axis("slice", dim, x.dim());
  TAPEFLOW_CHECK(step > 0, ValueError, "slice", "step must be positive, got ", step);
  const int64_t n = x.shape()[dim];
  // Python slice rules: negative positions count from the end, out-of-range ones clamp.
  auto clampi = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clampi(start);
  end = std::max(clampi(end), start);
  return apply1<Slice>(x, dim, start, end, step);
}

namespace {

/// index_select's checks short of the indices' range (which reads them); returns dim normalized.
int64_t check_index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  TAPEFLOW_CHECK(index.dtype() == DType::Int64, DTypeError, "index_select", "index must be int64, got ",
                 index.dtype());
  TAPEFLOW_CHECK(index.dim() <= 1, ShapeError, "index_select", "index must be 1-d, got shape ", index.shape());
  kernel::check_same_device("index_select", x, index);
  TAPEFLOW_CHECK(x.dim() > 0, ShapeError, "index_select", "cannot index a 0-d tensor");
  return kernel::normalize_axis("index_select", dim, x.dim());
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = check_index_select(x, dim, index);
  Tensor idx = index.reshape({-1});
  if (const auto bad = detail::index_out_of_range(idx, x.shape()[dim]))
    detail::fail<ValueError>("index_select", "index ", *bad, " is out of range for dimension ", dim, " of size ",
                             x.shape()[dim]);
  return apply1<IndexSelect>(x, dim, idx);
}

Tensor detail::index_select_in_range(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = check_index_select(x, dim, index);
  return apply1<IndexSelect>(x, dim, index.reshape({-1}));
}

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  TAPEFLOW_CHECK(!tensors.empty(), ValueError, "concat", "needs at least one tensor");
  for (std::size_t i = 0; i < tensors.size(); ++i)
    TAPEFLOW_CHECK(tensors[i].defined(), ValueError, "concat", "tensor ", i, " is undefined");
  const Tensor& first = tensors[0];
  TAPEFLOW_CHECK(first.dim() > 0, ShapeError, "concat", "cannot concatenate 0-d tensors");
  dim = kernel::normalize_axis("concat", dim, first.dim());
  DType dtype = first.dtype();
  Shape shape = first.shape();
  shape[dim] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    kernel::check_same_device("concat", first, t);
    dtype = promote_types(dtype, t.dtype());
    bool fits = t.dim() == first.dim();
    for (int64_t d = 0; fits && d < t.dim(); ++d) fits = d == dim || t.shape()[d] == first.shape()[d];
    TAPEFLOW_CHECK(fits, ShapeError, "concat", "tensor ", i, " has shape ", t.shape(),
                   " but tensor 0 has shape ", first.shape(), " (only dimension ", dim, " may differ)");
    // Each size is at most 2^60 (shape_numel's bound), so the sum cannot overflow before the check.
    shape[dim] += t.shape()[dim];
    shape_numel(shape, "concat");
  }
  std::vector<Tensor> inputs;
  inputs.reserve(tensors.size());
  for (const Tensor& t : tensors) inputs.push_back(t.dtype() == dtype ? t : t.to(dtype));
  Tensor out = zeros(shape, {.dtype = dtype, .device = first.device()});
  int64_t at = 0;
  Axes lengths;
  for (const Tensor& t : inputs) {
    const int64_t len = t.shape()[dim];
    Tensor window = make_view(out, t.shape(), out.strides(), at * out.strides()[dim]);
    kernel::copy_into(window, t);
    lengths.push_back(len);
    at += len;
  }
  bool record = is_grad_enabled() &&
                std::any_of(inputs.begin(), inputs.end(), [](const Tensor& t) { return t.requires_grad(); });
  if (!record) return out;
  auto node = new_node("concat", &concat_backward);
  node->ctx.i0 = dim;
  node->ctx.axes = lengths;
  attach_all(node, out, inputs);
  return out;
}

}  // namespace tapeflow

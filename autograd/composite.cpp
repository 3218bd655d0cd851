// SPDX-License-Identifier: MIT
// Ops built from primitives only: no kernels, no backward rules of their own.
#include "../tensor/detail/check.hpp"
#include "../tensor/detail/kernels.hpp"
#include "detail/index_range.hpp"
#include "detail/node.hpp"

namespace tapeflow {

using namespace detail;

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  TAPEFLOW_CHECK(!lo || !hi || *lo <= *hi, ValueError, "clamp", "min ", *lo, " is greater than max ", *hi);
  Tensor y = x;
  if (lo) y = maximum(y, full({}, *lo, {.dtype = x.dtype(), .device = x.device()}));
  if (hi) y = minimum(y, full({}, *hi, {.dtype = x.dtype(), .device = x.device()}));
  return y;
}

Tensor sign(const Tensor& x) {
  Tensor zero = zeros({}, {.dtype = x.dtype(), .device = x.device()});
  return kernel::cast(x > zero, x.dtype()) - kernel::cast(x < zero, x.dtype());
}

Tensor mse_loss(const Tensor& input, const Tensor& target) {
  TAPEFLOW_CHECK(input.defined() && target.defined(), ValueError, "mse_loss", "got an undefined tensor");
  broadcast_shapes(input.shape(), target.shape(), "mse_loss");
  Tensor d = input - target;
  return mean(d * d);
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  TAPEFLOW_CHECK(indices.dtype() == DType::Int64, DTypeError, "one_hot", "indices must be int64, got ",
                 indices.dtype());
  TAPEFLOW_CHECK(num_classes > 0, ValueError, "one_hot", "num_classes must be positive, got ", num_classes);
  Shape out_shape = indices.shape();
  out_shape.push_back(num_classes);
  shape_numel(out_shape, "one_hot");  // before arange(num_classes) allocates anything
  if (const auto bad = detail::index_out_of_range(indices, num_classes))
    detail::fail<ValueError>("one_hot", "index ", *bad, " is out of range for ", num_classes, " classes");
  Tensor classes = arange(0, static_cast<double>(num_classes), 1, {.dtype = DType::Int64, .device = indices.device()});
  return kernel::cast(kernel::binary(BinaryKind::Eq, indices.unsqueeze(-1), classes), DType::Int64);
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TAPEFLOW_CHECK(!tensors.empty(), ValueError, "stack", "needs at least one tensor");
  const int64_t d = kernel::normalize_axis("stack", dim, tensors[0].dim() + 1);
  for (std::size_t i = 1; i < tensors.size(); ++i) {
    TAPEFLOW_CHECK(tensors[i].shape() == tensors[0].shape(), ShapeError, "stack", "tensor ", i,
                   " has shape ", tensors[i].shape(), " but tensor 0 has shape ", tensors[0].shape());
    // Here rather than in concat below, so that the error names the op the caller used.
    kernel::check_same_device("stack", tensors[0], tensors[i]);
  }
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(t.unsqueeze(d));
  return concat(parts, d);
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  Shape shape;
  if (dim) {
    if (x.dim() == 0) return x.reshape({});
    const int64_t d = kernel::normalize_axis("squeeze", *dim, x.dim());
    TAPEFLOW_CHECK(x.shape()[d] == 1, ShapeError, "squeeze", "dimension ", d, " of shape ", x.shape(),
                   " has size ", x.shape()[d], ", not 1");
    shape = x.shape();
    shape.erase(shape.begin() + d);
  } else {
    for (int64_t s : x.shape())
      if (s != 1) shape.push_back(s);
  }
  return x.reshape(shape);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  TAPEFLOW_CHECK(x.dim() < kMaxDims, ShapeError, "unsqueeze", "a tensor of shape ", x.shape(),
                 " already has the most dimensions a tensor may have (", kMaxDims, ")");
  const int64_t d = kernel::normalize_axis("unsqueeze", dim, x.dim() + 1);
  Shape shape = x.shape();
  shape.insert(shape.begin() + d, 1);
  return x.reshape(shape);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return x.reshape({1});
  const int64_t s = kernel::normalize_axis("flatten", start_dim, x.dim());
  const int64_t e = kernel::normalize_axis("flatten", end_dim, x.dim());
  TAPEFLOW_CHECK(s <= e, ShapeError, "flatten", "start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= x.shape()[d];
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return x.reshape(shape);
}

}  // namespace tapeflow

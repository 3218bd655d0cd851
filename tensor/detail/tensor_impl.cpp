// SPDX-License-Identifier: MIT
#include "tensor_impl.hpp"

#include "check.hpp"

namespace tapeflow::detail {

Storage::Storage(Backend& b, std::size_t n) : backend(&b), data(b.allocate(n)), nbytes(n) {}
Storage::~Storage() { backend->deallocate(data, nbytes); }

bool TensorImpl::is_contiguous() const {
  // No element, no layout to get wrong (and contiguous_strides gives [2, 0, 4] strides 4, 4, 1).
  if (numel == 0) return true;
  int64_t expected = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = s;
    s *= std::max<int64_t>(shape[d], 1);
  }
  return strides;
}

Tensor make_tensor(const Shape& shape, DType dtype, Device device) {
  TAPEFLOW_CHECK(shape.size() <= static_cast<std::size_t>(kMaxDims), ShapeError, "tensor",
                 "shape ", shape, " has more than ", kMaxDims, " dimensions");
  auto impl = std::make_shared<TensorImpl>();
  impl->numel = shape_numel(shape);
  impl->storage = std::make_shared<Storage>(backend_for(device),
                                            static_cast<std::size_t>(impl->numel) * element_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  const TensorImpl& src = *t.impl();
  impl->storage = src.storage;
  impl->numel = shape_numel(shape);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = src.dtype;
  return Tensor(std::move(impl));
}

}  // namespace tapeflow::detail

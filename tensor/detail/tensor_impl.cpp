// SPDX-License-Identifier: MIT
#include "tensor_impl.hpp"

#include <new>
#include <utility>

#include "check.hpp"

namespace tapeflow::detail {

Storage::Storage(Backend& b, std::size_t n)
    : backend(&b), data(n <= kInlineBytes && b.device().is_cpu() ? inline_bytes : b.allocate(n)), nbytes(n) {}
Storage::~Storage() {
  if (data != inline_bytes) backend->deallocate(data, nbytes);
}

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

Backend& backend_for_op(Device device, const char* op) {
  try {
    return backend_for(device);
  } catch (const DeviceError& e) {
    fail<DeviceError>(op, e.what());
  }
}

Tensor make_tensor(Shape shape, DType dtype, Device device, const char* op) {
  TAPEFLOW_CHECK(shape.size() <= static_cast<std::size_t>(kMaxDims), ShapeError, op,
                 "shape ", shape, " has more than ", kMaxDims, " dimensions");
  auto impl = std::make_shared<TensorImpl>();
  impl->numel = shape_numel(shape, op);
  Backend& backend = backend_for_op(device, op);
  const std::size_t nbytes = static_cast<std::size_t>(impl->numel) * element_size(dtype);
  try {
    impl->storage = std::make_shared<Storage>(backend, nbytes);
  } catch (const std::bad_alloc&) {
    // A REPL or an embedder must survive an impossible request, and may retry with less.
    fail<OutOfMemoryError>(op, "cannot allocate ", nbytes, " bytes for a ", dtype, " tensor of shape ", shape,
                           " on ", device, " (out of memory)");
  } catch (const OutOfMemoryError& e) {  // a GPU's, saying how much memory the device has
    fail<OutOfMemoryError>(op, "cannot allocate ", nbytes, " bytes for a ", dtype, " tensor of shape ", shape,
                           " (", e.what(), ")");
  }
  impl->strides = contiguous_strides(shape);
  impl->shape = std::move(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset) {
  // Kernels keep per-dimension state in fixed kMaxDims arrays: a view may not have more dims
  // than a fresh tensor could (callers check first, to name their op).
  TAPEFLOW_CHECK(shape.size() <= static_cast<std::size_t>(kMaxDims), ShapeError, "view",
                 "shape ", shape, " has more than ", kMaxDims, " dimensions");
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

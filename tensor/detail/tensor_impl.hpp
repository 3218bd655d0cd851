// SPDX-License-Identifier: MIT
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "../../backends/backend.hpp"
#include "../tensor.hpp"

namespace tapeflow::detail {

struct Node;

/// Refcounted bytes on one device. The version counter lives here, not on the tensor, because
/// every view of the storage must see an in-place write to any of them.
struct Storage {
  Storage(Backend& backend, std::size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Backend* backend;
  void* data;
  std::size_t nbytes;
  uint32_t version = 0;

  /// CPU tensors this small keep their bytes here, in the storage's own allocation: a tiny op
  /// then allocates once less, which is a tenth of its cost.
  static constexpr std::size_t kInlineBytes = 32;
  alignas(16) unsigned char inline_bytes[kInlineBytes];
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  int64_t numel = 1;
  DType dtype = DType::Float32;
  /// Leaves: set by requires_grad_(). Recorded results: always true (grad_fn is set).
  bool requires_grad = false;
  /// The tape entry that produced this tensor (null for leaves).
  std::shared_ptr<Node> grad_fn;
  /// Accumulated gradient of a leaf.
  Tensor grad;

  Device device() const { return storage->backend->device(); }
  char* data() const {
    return static_cast<char*>(storage->data) + offset * static_cast<int64_t>(element_size(dtype));
  }
  View view() const {
    return View{data(), dtype, static_cast<int>(shape.size()), shape.data(), strides.data()};
  }
  bool is_contiguous() const;
};

/// Contiguous (row-major) strides for a shape.
Shape contiguous_strides(const Shape& shape);
/// The backend of `device`; throws DeviceError naming `op` in a build or machine without it.
Backend& backend_for_op(Device device, const char* op);
/// A fresh, contiguous, uninitialised tensor. Errors name `op`: ShapeError for a rank above
/// kMaxDims or a size that overflows, DeviceError for a device this build lacks, ValueError when
/// the storage cannot be allocated (never std::bad_alloc).
Tensor make_tensor(Shape shape, DType dtype, Device device, const char* op = "tensor");
/// A view sharing t's storage with new geometry (no recording: callers handle autograd).
Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset);

inline TensorImpl& impl_of(const Tensor& t) { return *t.impl(); }

}  // namespace tapeflow::detail

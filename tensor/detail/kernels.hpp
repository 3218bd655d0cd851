// SPDX-License-Identifier: MIT
// Forward computation without autograd: validate, allocate the result, call the backend.
// The autograd layer wraps these; backward rules call the public (recorded) ops instead.
#pragma once
#include "../../backends/backend.hpp"
#include "tensor_impl.hpp"

namespace tapeflow::detail::kernel {

/// Throws DeviceError naming op and both devices when a and b live on different devices.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);

Tensor unary(UnaryKind kind, const Tensor& x);
/// a and b must have one dtype already (the op layer promotes); broadcasts by strides.
Tensor binary(BinaryKind kind, const Tensor& a, const Tensor& b);
/// self op= other, writing through self's strides; bumps self's version.
void binary_inplace(BinaryKind kind, const Tensor& self, const Tensor& other);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// Contiguous copy of x converted to dtype.
Tensor cast(const Tensor& x, DType dtype);
/// A contiguous copy of x on `device` (through the host between two GPUs).
Tensor to_device(const Tensor& x, Device device);
/// dst <- src broadcast to dst's shape and converted to its dtype; bumps dst's version. A src
/// on another device is moved to dst's first, as copy_ in PyTorch does.
void copy_into(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, double value);
/// Reduces the normalised axes; result has keepdim layout when keepdim, else those dims removed.
Tensor reduce(const char* op, ReduceKind kind, const Tensor& x, const Axes& axes, bool keepdim);
/// Both operands at least 2-d, one floating dtype; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor softmax(SoftmaxKind kind, const Tensor& x, int64_t dim);
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// zeros(shape) with src added at index along dim.
Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src);

/// Axis in [0, rank) from a possibly negative one; ShapeError naming op otherwise.
int64_t normalize_axis(const char* op, int64_t axis, int64_t rank);
/// Sorted, unique, normalised axes; empty means all.
Axes normalize_axes(const char* op, const Axes& axes, int64_t rank);

}  // namespace tapeflow::detail::kernel

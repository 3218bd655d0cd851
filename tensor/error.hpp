// SPDX-License-Identifier: MIT
#pragma once
#include <stdexcept>
#include <string>

namespace tapeflow {

/// Base of every exception tapeflow throws; the message names the op (with its name scope).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// Shapes that do not fit the op (broadcast, matmul inner dims, axis out of range...).
class ShapeError : public Error { using Error::Error; };
/// A dtype the op does not accept, or mismatched dtypes.
class DTypeError : public Error { using Error::Error; };
/// Tensors on different devices, or a device this build or machine does not have.
class DeviceError : public Error { using Error::Error; };
/// Misuse of the tape: backward twice, a saved tensor modified in place, NaN under AnomalyGuard...
class AutogradError : public Error { using Error::Error; };
/// A file that cannot be read or written, or is not what it claims to be.
class IOError : public Error { using Error::Error; };
/// An argument value out of its domain (negative size, bad index, step 0...).
class ValueError : public Error { using Error::Error; };
/// Memory the host or a GPU cannot provide, even after tapeflow gave its cached blocks back:
/// catch it to retry with less (a smaller batch), as LibTorch's OutOfMemoryError.
class OutOfMemoryError : public Error { using Error::Error; };
/// A valid request this build does not implement (yet).
class NotImplemented : public Error { using Error::Error; };
/// A broken invariant inside tapeflow: a bug, please report it.
class InternalError : public Error { using Error::Error; };

}  // namespace tapeflow

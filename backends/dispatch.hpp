// SPDX-License-Identifier: MIT
// dtype -> C++ type dispatch, for every backend's host code (the CUDA backend instantiates its
// kernel templates through it too).
#pragma once
#include <string>

#include "../tensor/dtype.hpp"
#include "../tensor/error.hpp"

namespace tapeflow::detail {

[[noreturn]] inline void unsupported(const char* op, DType dtype) {
  throw InternalError(std::string("backend: ") + op + " has no " + dtype_name(dtype) +
                      " kernel (the op layer should have refused this)");
}

/// f(T{}) with T the C++ type of `dtype`.
template <typename F>
decltype(auto) dispatch_all(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    case DType::Bool: return f(bool{});
  }
  throw InternalError("backend: unknown dtype");
}

template <typename F>
decltype(auto) dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64:
    case DType::Bool: break;
  }
  unsupported(op, dtype);
}

}  // namespace tapeflow::detail

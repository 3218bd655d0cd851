// SPDX-License-Identifier: MIT
#pragma once
#include <string>

#include "../../tensor/error.hpp"
#include "../../tensor/dtype.hpp"

namespace tapeflow::cpu {

[[noreturn]] inline void unsupported(const char* op, DType dtype) {
  throw InternalError(std::string("cpu backend: ") + op + " has no " + dtype_name(dtype) +
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
  throw InternalError("cpu backend: unknown dtype");
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

}  // namespace tapeflow::cpu

// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <type_traits>

namespace tapeflow {

/// Element type of a tensor. Arithmetic promotes Bool < Int64 < Float32 < Float64.
enum class DType : uint8_t { Float32, Float64, Int64, Bool };

inline constexpr DType Float32 = DType::Float32;
inline constexpr DType Float64 = DType::Float64;
inline constexpr DType Int64 = DType::Int64;
inline constexpr DType Bool = DType::Bool;
/// LibTorch spellings, for users moving over.
inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kBool = DType::Bool;

/// Bytes per element.
std::size_t element_size(DType dtype);
/// "float32", "float64", "int64" or "bool".
const char* dtype_name(DType dtype);
/// Prints dtype_name: `std::cout << t.dtype()` shows "float32".
std::ostream& operator<<(std::ostream& os, DType dtype);
/// True for Float32 and Float64.
bool is_floating(DType dtype);
/// The dtype binary arithmetic on `a` and `b` computes in.
DType promote_types(DType a, DType b);

/// The DType that stores C++ type T (float, double, int64_t, bool).
template <typename T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::Float32;
  else if constexpr (std::is_same_v<T, double>) return DType::Float64;
  else if constexpr (std::is_same_v<T, bool>) return DType::Bool;
  else {
    static_assert(std::is_same_v<T, int64_t>, "tapeflow stores float, double, int64_t or bool");
    return DType::Int64;
  }
}

}  // namespace tapeflow

// SPDX-License-Identifier: MIT
// Error messages: built only on the failure path, so checks cost a branch.
#pragma once
#include <sstream>
#include <string>

#include "../device.hpp"
#include "../dtype.hpp"
#include "../error.hpp"
#include "../shape.hpp"

namespace tapeflow::detail {

/// The op's name with the current name scope ("layer1/matmul").
std::string scoped(const char* op);

inline void put(std::ostream& os, const Shape& s) { os << shape_str(s); }
inline void put(std::ostream& os, DType d) { os << dtype_name(d); }
inline void put(std::ostream& os, const Device& d) { os << d.str(); }
template <typename T>
void put(std::ostream& os, const T& v) { os << v; }

template <typename E, typename... Parts>
[[noreturn]] void fail(const char* op, const Parts&... parts) {
  std::ostringstream os;
  os << scoped(op) << ": ";
  (put(os, parts), ...);
  throw E(os.str());
}

}  // namespace tapeflow::detail

/// TAPEFLOW_CHECK(cond, ShapeError, "matmul", "shapes ", a, " and ", b, " are not compatible")
#define TAPEFLOW_CHECK(cond, ErrorType, op, ...)                                  \
  do {                                                                            \
    if (!(cond)) [[unlikely]]                                                     \
      ::tapeflow::detail::fail<::tapeflow::ErrorType>(op, __VA_ARGS__);           \
  } while (0)

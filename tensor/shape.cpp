// SPDX-License-Identifier: MIT
#include "shape.hpp"

#include <limits>

#include "detail/check.hpp"

namespace tapeflow {

int64_t shape_numel(const Shape& shape, const char* op) {
  // The product of max(size, 1) is bounded too, even when a zero makes the tensor empty:
  // contiguous strides multiply the other sizes, and [0, 2^62, 2^62] would overflow them.
  int64_t n = 1, span = 1;
  for (int64_t s : shape) {
    TAPEFLOW_CHECK(s >= 0, ShapeError, op, "negative size in shape ", shape);
    const int64_t f = s == 0 ? 1 : s;
    // Sizes whose byte count would overflow are refused before any allocation is attempted.
    TAPEFLOW_CHECK(span <= (std::numeric_limits<int64_t>::max() / 8) / f, ShapeError, op, "shape ", shape,
                   " has too many elements (its byte count would overflow 64 bits)");
    span *= f;
    n *= s;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  const std::size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (std::size_t i = 0; i < r; ++i) {
    int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    TAPEFLOW_CHECK(x == y || x == 1 || y == 1, ShapeError, op, "shapes ", a, " and ", b,
                   " cannot be broadcast (dimension ", i, ": ", x, " vs ", y, ")");
    out[i] = x == 1 ? y : x;
  }
  shape_numel(out, op);  // expanded views may broadcast to more elements than can exist
  return out;
}

}  // namespace tapeflow

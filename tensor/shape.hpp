// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tapeflow {

/// Sizes of a tensor's dimensions, outermost first. A 0-d (scalar) tensor has shape {}.
using Shape = std::vector<int64_t>;

/// Product of the sizes (1 for a 0-d shape); throws ShapeError naming `op` on a negative size,
/// or when the count or its byte count (up to 8 bytes an element) would overflow int64.
int64_t shape_numel(const Shape& shape, const char* op = "shape");
/// "[2,3]": the form error messages use.
std::string shape_str(const Shape& shape);
/// NumPy broadcasting of two shapes; throws ShapeError naming `op` when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op = "broadcast");

/// Most dimensions a tensor may have.
inline constexpr int kMaxDims = 16;

}  // namespace tapeflow

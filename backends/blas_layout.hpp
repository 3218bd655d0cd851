// SPDX-License-Identifier: MIT
// How a matmul operand's last two dims map onto a BLAS call, for both backends' GEMMs.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../tensor/error.hpp"
#include "backend.hpp"

namespace tapeflow::detail {

/// Row-major as is (rows of `ld` elements), or the transpose of such a matrix.
struct BlasOperand {
  bool transposed;
  int64_t ld;
};

/// Throws InternalError for strides BLAS cannot take (the op layer makes those contiguous).
inline BlasOperand blas_layout(const View& v) {
  const int64_t rows = v.shape[v.rank - 2], cols = v.shape[v.rank - 1];
  const int64_t rs = v.strides[v.rank - 2], cs = v.strides[v.rank - 1];
  if (cs == 1 && (rs >= std::max<int64_t>(cols, 1) || rows == 1)) return {false, std::max<int64_t>({rs, cols, 1})};
  if (rs == 1 && (cs >= std::max<int64_t>(rows, 1) || cols == 1)) return {true, std::max<int64_t>({cs, rows, 1})};
  throw InternalError("backend: matmul operand is not BLAS-compatible (the op layer should have made it contiguous)");
}

}  // namespace tapeflow::detail

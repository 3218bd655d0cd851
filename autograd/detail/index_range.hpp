// SPDX-License-Identifier: MIT
// The range check every op that indexes with a tensor of Int64 indices makes before its kernel
// runs (index_select, one_hot, cross_entropy, nll_loss, embedding), so that a bad index is a
// ValueError naming the op, never an out-of-bounds read; and the index_select for callers that
// made it already.
#pragma once
#include <cstdint>
#include <optional>

#include "../../tensor/ops.hpp"
#include "../../tensor/tensor.hpp"

namespace tapeflow::detail {

/// An index of `indices` (Int64, any shape) outside [0, size): the smallest when one is
/// negative, else the largest; nullopt when all are inside or there are none. Reading the
/// answer waits for the device: min and max come back in one copy, so a GPU tensor costs one
/// round trip to the host, not two.
inline std::optional<int64_t> index_out_of_range(const Tensor& indices, int64_t size) {
  if (indices.numel() == 0) return std::nullopt;
  const std::vector<int64_t> ends = stack({min(indices), max(indices)}).to_vector<int64_t>();
  if (ends[0] < 0) return ends[0];
  if (ends[1] >= size) return ends[1];
  return std::nullopt;
}

/// index_select for indices the caller has range-checked itself (naming its own op): every
/// other check of index_select runs, the range check does not, so the indices are not read
/// back a second time (on a GPU, a second wait for the stream).
Tensor index_select_in_range(const Tensor& x, int64_t dim, const Tensor& index);

}  // namespace tapeflow::detail

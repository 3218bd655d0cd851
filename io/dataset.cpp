// SPDX-License-Identifier: MIT
#include "dataset.hpp"

#include <string>
#include <utility>

#include "../tensor/ops.hpp"

namespace tapeflow::io {

Dataset::~Dataset() = default;

Batch Dataset::get(int64_t index) const {
  Batch b = get_batch({index});
  return {b.inputs.squeeze(0), b.targets.squeeze(0)};
}

TensorDataset::TensorDataset(Tensor inputs, Tensor targets) : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  if (!inputs_.defined() || !targets_.defined())
    throw ValueError("TensorDataset: inputs and targets must be defined tensors");
  if (inputs_.dim() == 0 || targets_.dim() == 0)
    throw ValueError("TensorDataset: inputs " + shape_str(inputs_.shape()) + " and targets " +
                     shape_str(targets_.shape()) + " need a first (example) dimension");
  if (inputs_.size(0) != targets_.size(0))
    throw ShapeError("TensorDataset: inputs " + shape_str(inputs_.shape()) + " and targets " +
                     shape_str(targets_.shape()) + " differ in their first (example) dimension");
}

int64_t TensorDataset::size() const { return inputs_.size(0); }

Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  const int64_t n = size();
  for (int64_t i : indices)
    if (i < 0 || i >= n)
      throw ValueError("TensorDataset: index " + std::to_string(i) + " is out of range for " + std::to_string(n) +
                       " examples");
  const Tensor index = tensor(indices, {static_cast<int64_t>(indices.size())});
  // The index goes where each tensor lives (to() returns it as is on the same device).
  return {inputs_.index_select(0, index.to(inputs_.device())), targets_.index_select(0, index.to(targets_.device()))};
}

const Tensor& TensorDataset::inputs() const { return inputs_; }
const Tensor& TensorDataset::targets() const { return targets_; }

}  // namespace tapeflow::io

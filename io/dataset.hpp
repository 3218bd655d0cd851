// SPDX-License-Identifier: MIT
// Datasets: numbered examples served in batches, and TensorDataset, the one over two tensors.
#pragma once
#include <cstdint>
#include <vector>

#include "../tensor/tensor.hpp"

namespace tapeflow::io {

/// A batch of examples: inputs and targets, both with the batch as their first dimension.
/// `auto [x, y] = batch;` works.
struct Batch {
  Tensor inputs;
  Tensor targets;
};

/// Examples numbered 0 .. size()-1, served as batches (on the CPU).
class Dataset {
 public:
  virtual ~Dataset();
  /// Number of examples.
  virtual int64_t size() const = 0;
  /// The examples at `indices`, stacked along a new first dimension (copies, in that order).
  /// Throws ValueError for an index outside [0, size()).
  virtual Batch get_batch(const std::vector<int64_t>& indices) const = 0;
  /// One example, without the batch dimension.
  Batch get(int64_t index) const;
};

/// Examples are the slices of `inputs` and `targets` along their first dimension.
class TensorDataset : public Dataset {
 public:
  /// Throws ValueError for an undefined or 0-d tensor, ShapeError when the first sizes differ.
  TensorDataset(Tensor inputs, Tensor targets);
  int64_t size() const override;
  /// index_select along dimension 0 of both tensors.
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& inputs() const;
  const Tensor& targets() const;

 private:
  Tensor inputs_;
  Tensor targets_;
};

}  // namespace tapeflow::io

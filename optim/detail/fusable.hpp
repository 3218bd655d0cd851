// SPDX-License-Identifier: MIT
// When an optimizer may update a parameter in one fused loop over raw elements (adam_update,
// sgd_update) instead of tensor ops, and the bookkeeping those loops owe the tensors.
#pragma once
#include <initializer_list>

#include "../../tensor/detail/tensor_impl.hpp"
#include "../../tensor/tensor.hpp"

namespace tapeflow::optim::detail {

/// True when p is a contiguous float32 or float64 CPU tensor and every defined tensor in
/// `others` matches it (device, dtype, shape, contiguous) in a buffer of its own: the loops
/// read each element once, so an alias would change results. Undefined entries are skipped.
inline bool fusable(const Tensor& p, std::initializer_list<const Tensor*> others) {
  if (!p.device().is_cpu() || !(p.dtype() == DType::Float32 || p.dtype() == DType::Float64) || !p.is_contiguous())
    return false;
  for (const Tensor* t : others) {
    if (!t->defined()) continue;
    if (t->device() != p.device() || t->dtype() != p.dtype() || t->shape() != p.shape() || !t->is_contiguous() ||
        t->impl()->storage == p.impl()->storage)
      return false;
    for (const Tensor* u : others)
      if (u != t && u->defined() && u->impl()->storage == t->impl()->storage) return false;
  }
  return true;
}

/// Writes through data pointers bypass the version counters: bump them as the in-place ops
/// would, so a tape entry that saved one of these tensors still notices.
inline void bump_versions(std::initializer_list<const Tensor*> written) {
  for (const Tensor* t : written)
    if (t->defined()) ++t->impl()->storage->version;
}

}  // namespace tapeflow::optim::detail

// SPDX-License-Identifier: MIT
// SGD's per-parameter update as one pass over the elements.
#pragma once
#include "../../tensor/tensor.hpp"

namespace tapeflow::optim::detail {

/// The options of one SGD update (the group's, with its current learning rate).
struct SGDScalars {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
};

/// Updates p (and momentum_buffer, when momentum is used) in place from grad, with exactly the
/// float operations of the tensor-op formulation in SGD::step, and bumps their versions.
/// `first_step`: momentum_buffer holds nothing yet and is set to the (decayed) gradient, as
/// SGD::step's clone does; it must already be allocated. Returns false, changing nothing,
/// unless every tensor is a contiguous CPU tensor of p's floating dtype and shape in a buffer
/// of its own (the caller then takes the tensor-op path).
bool fused_sgd_update(const Tensor& p, const Tensor& grad, const Tensor& momentum_buffer, bool first_step,
                      const SGDScalars& s);

}  // namespace tapeflow::optim::detail

// SPDX-License-Identifier: MIT
#pragma once
#include <vector>

#include "../tensor/tensor.hpp"

namespace tapeflow::optim {

/// Scales the gradients of `parameters` in place so that their joint `norm_type`-norm (as if
/// all were one vector; infinity gives the largest magnitude) is at most `max_norm`: each is
/// multiplied by max_norm / (norm + 1e-6) when that is below 1. Returns the norm before
/// clipping. Parameters without a gradient are skipped; a non-finite norm leaves the gradients
/// alone. Throws ValueError for a negative max_norm or a norm_type that is not positive.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0);

/// Clamps every gradient of `parameters` in place to [-clip_value, clip_value]. Throws
/// ValueError for a negative clip_value.
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

}  // namespace tapeflow::optim

// SPDX-License-Identifier: MIT
// Adam's per-parameter update as one pass over the elements, for Adam and AdamW.
#pragma once
#include "../../tensor/tensor.hpp"

namespace tapeflow::optim::detail {

/// The scalars of one update, already combined as Adam::step does.
struct AdamScalars {
  double beta1, beta2, eps;
  double weight_decay;     ///< L2 term added to the gradient (Adam); 0 for none
  double decay_factor;     ///< p is first scaled by this (AdamW's 1 - lr·wd); 1 for none
  double bias_correction2_sqrt;
  double step_size;        ///< lr / bias_correction1
};

/// Updates p, exp_avg, exp_avg_sq (and max_exp_avg_sq when defined, AMSGrad) in place, with
/// exactly the float operations of the tensor-op formulation, and bumps their versions.
/// Returns false, changing nothing, unless every tensor is a contiguous CPU tensor of p's
/// floating dtype and shape (the caller then takes the tensor-op path).
bool fused_adam_update(const Tensor& p, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                       const Tensor& max_exp_avg_sq, const AdamScalars& s);

}  // namespace tapeflow::optim::detail

// SPDX-License-Identifier: MIT
// The optimizers' per-parameter updates as one pass over the elements, on the parameter's
// device (the backends' sgd_update, adam_update, rmsprop_update and adagrad_update), for
// parameters whose buffers allow it.
#pragma once
#include "../../backends/backend.hpp"
#include "../../tensor/tensor.hpp"

namespace tapeflow::optim::detail {

using tapeflow::detail::AdagradScalars;
using tapeflow::detail::AdamScalars;
using tapeflow::detail::RMSpropScalars;
using tapeflow::detail::SGDScalars;

/// Updates p (and momentum_buffer, when momentum is used) in place from grad, with exactly the
/// float operations of the tensor-op formulation in SGD::step, and bumps their versions.
/// `first_step`: momentum_buffer holds nothing yet and is set to the (decayed) gradient, as
/// SGD::step's clone does; it must already be allocated. Returns false, changing nothing,
/// unless every tensor is a contiguous float tensor of p's dtype, shape and device in a buffer
/// of its own (the caller then takes the tensor-op path).
bool fused_sgd_update(const Tensor& p, const Tensor& grad, const Tensor& momentum_buffer, bool first_step,
                      const SGDScalars& s);

/// Updates p, exp_avg, exp_avg_sq (and max_exp_avg_sq when defined, AMSGrad) in place, with
/// exactly the float operations of the tensor-op formulation in Adam::step, and bumps their
/// versions. Returns false, changing nothing, on the same terms as fused_sgd_update.
bool fused_adam_update(const Tensor& p, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                       const Tensor& max_exp_avg_sq, const AdamScalars& s);

/// Updates p, square_avg (and grad_avg when defined, centered; momentum_buffer when defined) in
/// place, with exactly the float operations of RMSprop::step's tensor ops, and bumps their
/// versions. Returns false, changing nothing, on the same terms as fused_sgd_update.
bool fused_rmsprop_update(const Tensor& p, const Tensor& grad, const Tensor& square_avg, const Tensor& grad_avg,
                          const Tensor& momentum_buffer, const RMSpropScalars& s);

/// Updates p and sum in place, with exactly the float operations of Adagrad::step's tensor ops,
/// and bumps their versions. Returns false, changing nothing, on the same terms as
/// fused_sgd_update.
bool fused_adagrad_update(const Tensor& p, const Tensor& grad, const Tensor& sum, const AdagradScalars& s);

}  // namespace tapeflow::optim::detail

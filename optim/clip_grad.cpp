// SPDX-License-Identifier: MIT
#include "clip_grad.hpp"

#include <algorithm>
#include <cmath>

#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"
#include "detail/check.hpp"

namespace tapeflow::optim {

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type) {
  TAPEFLOW_CHECK(max_norm >= 0, ValueError, "clip_grad_norm_", "max_norm must be non-negative, got ", max_norm);
  TAPEFLOW_CHECK(norm_type > 0, ValueError, "clip_grad_norm_", "norm_type must be positive, got ", norm_type);
  NoGradGuard off;
  std::vector<Tensor> grads;
  for (const Tensor& p : parameters)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;

  // NOTE: reduced in float64 whatever the gradients' dtype, so float32 sums do not lose digits.
  const bool inf_norm = std::isinf(norm_type);
  double total = 0.0;
  for (const Tensor& g : grads) {
    Tensor a = abs(g.dtype() == Float64 ? g : g.to(Float64));
    if (a.numel() == 0) continue;
    if (inf_norm) total = std::max(total, a.max().item_double());
    else if (norm_type == 2.0) total += (a * a).sum().item_double();
    else if (norm_type == 1.0) total += a.sum().item_double();
    else total += pow(a, norm_type).sum().item_double();
  }
  if (!inf_norm) total = norm_type == 2.0 ? std::sqrt(total) : norm_type == 1.0 ? total : std::pow(total, 1.0 / norm_type);

  const double coef = max_norm / (total + 1e-6);
  if (std::isfinite(total) && coef < 1.0)
    for (Tensor& g : grads) g.mul_(coef);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  TAPEFLOW_CHECK(clip_value >= 0, ValueError, "clip_grad_value_", "clip_value must be non-negative, got ",
                 clip_value);
  NoGradGuard off;
  for (const Tensor& p : parameters) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (g.defined()) g.copy_(clamp(g, -clip_value, clip_value));
  }
}

}  // namespace tapeflow::optim

// SPDX-License-Identifier: MIT
#include "optimizer.hpp"

#include <cmath>

namespace tapeflow::optim {

Optimizer::Optimizer(std::vector<Tensor> parameters, double lr) : parameters_(std::move(parameters)), lr_(0) {
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    if (!parameters_[i].defined() || !parameters_[i].requires_grad() || !parameters_[i].is_leaf())
      throw ValueError("optimizer: parameter " + std::to_string(i) +
                       " must be a defined leaf tensor that requires grad");
  set_lr(lr);
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (Tensor& p : parameters_) p.set_grad(Tensor());
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0) || !std::isfinite(lr))
    throw ValueError("optimizer: learning rate must be a finite non-negative number, got " + std::to_string(lr));
  lr_ = lr;
}

}  // namespace tapeflow::optim

// SPDX-License-Identifier: MIT
#pragma once
#include "module.hpp"

namespace tapeflow::nn {

namespace functional {
/// In training, zeroes each element with probability p (drawn from the manual_seed generator)
/// and scales the rest by 1/(1-p), so evaluation needs no rescaling; otherwise returns x.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);
}  // namespace functional

/// functional::dropout, active only in training mode (train()), the identity after eval().
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override { return functional::dropout(x, p, is_training()); }
  std::string extra_repr() const override { return "p=" + std::to_string(p); }
  double p;
};

}  // namespace tapeflow::nn

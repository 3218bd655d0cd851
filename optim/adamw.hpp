// SPDX-License-Identifier: MIT
#pragma once
#include <utility>
#include <vector>

#include "adam.hpp"

namespace tapeflow::optim {

/// Options of AdamW: Adam's, with a decoupled weight decay of 1e-2 by default.
struct AdamWOptions {
  double lr = 1e-3;
  /// Decay rates of the first and second moment averages, each in [0, 1).
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  /// Decoupled: p *= 1 - lr * weight_decay before the Adam step (not added to the gradient).
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

/// AdamW (Loshchilov & Hutter) with PyTorch's update: p *= 1 - lr*wd, then Adam's step without
/// L2 penalty. Same state as Adam. options() reports the group's options as AdamOptions.
class AdamW : public Adam {
 public:
  /// Throws ValueError (naming AdamW) for the same bad options as Adam.
  AdamW(std::vector<Tensor> parameters, AdamWOptions options = {});
  AdamW(std::vector<ParamGroup<AdamWOptions>> groups, AdamWOptions defaults = {});
};

}  // namespace tapeflow::optim

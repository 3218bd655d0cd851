// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "optimizer.hpp"

namespace tapeflow::optim {

/// Options of Adam: `optim::Adam(params, {.lr = 1e-3, .betas = {0.9, 0.99}})`.
struct AdamOptions {
  double lr = 1e-3;
  /// Decay rates of the first and second moment averages, each in [0, 1).
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  /// L2 penalty: weight_decay * p is added to the gradient (AdamW decouples it instead).
  double weight_decay = 0.0;
  /// Divide by the largest second moment seen so far (AMSGrad).
  bool amsgrad = false;
};

/// Adam with PyTorch's update: t += 1; g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g²;
/// (AMSGrad: vmax = max(vmax, v), used for v); p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
/// Per-parameter state: `step`, `exp_avg`, `exp_avg_sq` (and `max_exp_avg_sq`).
class Adam : public Optimizer {
 public:
  /// Throws ValueError (naming Adam) for a negative lr, eps or weight decay, or betas outside [0, 1).
  Adam(std::vector<Tensor> parameters, AdamOptions options = {});
  Adam(std::vector<ParamGroup<AdamOptions>> groups, AdamOptions defaults = {});
  void step() override;
  /// The options of `group` (with its current learning rate).
  AdamOptions options(std::size_t group = 0) const;

 protected:
  /// `decoupled`: AdamW's weight decay, p *= 1 - lr*wd before the Adam step.
  Adam(std::string name, std::vector<ParamGroup<AdamOptions>> groups, AdamOptions defaults, bool decoupled);
  std::vector<std::string> state_names(std::size_t group) const override;
  std::vector<std::pair<std::string, std::string>> describe_group(std::size_t group) const override;

 private:
  std::vector<AdamOptions> options_;
  bool decoupled_;
};

}  // namespace tapeflow::optim

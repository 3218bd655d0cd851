// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "optimizer.hpp"

namespace tapeflow::optim {

/// Options of RMSprop: `optim::RMSprop(params, {.lr = 1e-3, .centered = true})`.
struct RMSpropOptions {
  double lr = 1e-2;
  /// Decay rate of the squared-gradient average, in [0, 1].
  double alpha = 0.99;
  double eps = 1e-8;
  /// L2 penalty: weight_decay * p is added to the gradient.
  double weight_decay = 0.0;
  double momentum = 0.0;
  /// Normalise by an estimate of the gradient's variance instead of its second moment.
  bool centered = false;
};

/// RMSprop with PyTorch's update: g += wd*p; s = alpha*s + (1-alpha)*g²; centered:
/// a = alpha*a + (1-alpha)*g and d = sqrt(s - a²) + eps, else d = sqrt(s) + eps; with momentum
/// b = momentum*b + g/d and p -= lr*b, else p -= lr*g/d. Per-parameter state: `step`,
/// `square_avg` (and `momentum_buffer`, `grad_avg`).
class RMSprop : public Optimizer {
 public:
  /// Throws ValueError (naming RMSprop) for a negative lr, eps, momentum or weight decay, or an
  /// alpha outside [0, 1].
  RMSprop(std::vector<Tensor> parameters, RMSpropOptions options = {});
  RMSprop(std::vector<ParamGroup<RMSpropOptions>> groups, RMSpropOptions defaults = {});
  void step() override;
  /// The options of `group` (with its current learning rate).
  RMSpropOptions options(std::size_t group = 0) const;

 protected:
  std::vector<std::string> state_names(std::size_t group) const override;
  std::vector<std::pair<std::string, std::string>> describe_group(std::size_t group) const override;

 private:
  std::vector<RMSpropOptions> options_;
};

}  // namespace tapeflow::optim

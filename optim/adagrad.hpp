// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "optimizer.hpp"

namespace tapeflow::optim {

/// Options of Adagrad: `optim::Adagrad(params, {.lr = 0.1, .lr_decay = 1e-4})`.
struct AdagradOptions {
  double lr = 1e-2;
  /// The step size at step t is lr / (1 + (t - 1) * lr_decay).
  double lr_decay = 0.0;
  /// L2 penalty: weight_decay * p is added to the gradient.
  double weight_decay = 0.0;
  /// Starting value of the sum of squared gradients.
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

/// Adagrad with PyTorch's update: t += 1; g += wd*p; s += g²;
/// p -= lr / (1 + (t-1)*lr_decay) * g / (sqrt(s) + eps). Per-parameter state: `step` and
/// `sum`, created by the constructor (like PyTorch) with step 0 and sum = initial_accumulator_value.
class Adagrad : public Optimizer {
 public:
  /// Throws ValueError (naming Adagrad) for a negative lr, lr_decay, weight decay,
  /// initial_accumulator_value or eps.
  Adagrad(std::vector<Tensor> parameters, AdagradOptions options = {});
  Adagrad(std::vector<ParamGroup<AdagradOptions>> groups, AdagradOptions defaults = {});
  void step() override;
  /// The options of `group` (with its current learning rate).
  AdagradOptions options(std::size_t group = 0) const;

 protected:
  std::vector<std::string> state_names(std::size_t group) const override;
  std::vector<std::pair<std::string, std::string>> describe_group(std::size_t group) const override;

 private:
  std::vector<AdagradOptions> options_;
};

}  // namespace tapeflow::optim

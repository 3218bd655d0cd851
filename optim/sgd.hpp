// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "optimizer.hpp"

namespace tapeflow::optim {

/// Options of SGD: `optim::SGD(params, {.lr = 0.1, .momentum = 0.9})`.
struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  /// Damps the gradient's share of the momentum buffer (not on the first step, like PyTorch).
  double dampening = 0.0;
  /// L2 penalty: weight_decay * p is added to the gradient.
  double weight_decay = 0.0;
  /// Nesterov momentum; needs momentum > 0 and dampening 0.
  bool nesterov = false;
};

/// Stochastic gradient descent with PyTorch's update: d = g + wd*p; with momentum,
/// b = d on the first step, then b = momentum*b + (1 - dampening)*d, and d = b (or
/// d + momentum*b with Nesterov); p -= lr * d. Per-parameter state: `momentum_buffer`.
class SGD : public Optimizer {
 public:
  /// Throws ValueError (naming SGD) for a negative lr, momentum or weight decay, or Nesterov
  /// without momentum or with dampening.
  SGD(std::vector<Tensor> parameters, SGDOptions options = {});
  SGD(std::vector<ParamGroup<SGDOptions>> groups, SGDOptions defaults = {});
  void step() override;
  /// The options of `group` (with its current learning rate).
  SGDOptions options(std::size_t group = 0) const;

 protected:
  SGD(std::string name, std::vector<ParamGroup<SGDOptions>> groups, SGDOptions defaults);
  std::vector<std::string> state_names(std::size_t group) const override;
  std::vector<std::pair<std::string, std::string>> describe_group(std::size_t group) const override;

 private:
  std::vector<SGDOptions> options_;
};

/// TensorFlow's name for plain SGD: `optim::GradientDescentOptimizer opt(params, 0.5);`.
class GradientDescentOptimizer : public SGD {
 public:
  GradientDescentOptimizer(std::vector<Tensor> parameters, double learning_rate);
};

}  // namespace tapeflow::optim

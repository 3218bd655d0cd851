// SPDX-License-Identifier: MIT
#pragma once
#include <vector>

#include "../tensor/tensor.hpp"

namespace tapeflow::optim {

/// Base of every optimizer: holds parameters (tensors that require grad) and a learning rate.
/// step() updates the parameters from their .grad() without recording on the tape.
class Optimizer {
 public:
  /// Throws ValueError for a parameter that does not require grad, or a negative learning rate.
  Optimizer(std::vector<Tensor> parameters, double lr);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update from the current gradients; parameters without a gradient are left alone.
  virtual void step() = 0;
  /// Clears every parameter's gradient (sets it undefined, so the next backward starts fresh).
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::vector<Tensor>& parameters() const { return parameters_; }

 protected:
  std::vector<Tensor> parameters_;
  double lr_;
};

}  // namespace tapeflow::optim

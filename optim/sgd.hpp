// SPDX-License-Identifier: MIT
#pragma once
#include "optimizer.hpp"

namespace tapeflow::optim {

struct SGDOptions {
  double lr = 0.01;
};

/// Plain gradient descent: p -= lr * p.grad().
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> parameters, SGDOptions options = {});
  void step() override;
};

}  // namespace tapeflow::optim

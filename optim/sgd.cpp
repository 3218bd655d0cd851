// SPDX-License-Identifier: MIT
#include "sgd.hpp"

#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"

namespace tapeflow::optim {

SGD::SGD(std::vector<Tensor> parameters, SGDOptions options) : Optimizer(std::move(parameters), options.lr) {}

void SGD::step() {
  NoGradGuard off;
  for (Tensor& p : parameters_) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    p.sub_(g * lr_);
  }
}

}  // namespace tapeflow::optim

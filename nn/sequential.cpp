// SPDX-License-Identifier: MIT
#include "sequential.hpp"

#include "../autograd/tape.hpp"

namespace tapeflow::nn {

void Sequential::append(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& input) {
  // Each layer's ops are recorded under "<index>.<Type>" ("2.Linear/matmul"), so that errors,
  // anomaly reports and graph pictures say which layer an op belongs to.
  Tensor x = input;
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    NameScope scope(std::to_string(i) + "." + modules_[i]->type_name());
    x = modules_[i]->forward(x);
  }
  return x;
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t i) const {
  if (i >= modules_.size())
    throw ValueError("Sequential: index " + std::to_string(i) + " is out of range for " +
                     std::to_string(modules_.size()) + " modules");
  return modules_[i];
}

}  // namespace tapeflow::nn

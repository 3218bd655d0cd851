// SPDX-License-Identifier: MIT
#include "sequential.hpp"

namespace tapeflow::nn {

void Sequential::append(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (auto& m : modules_) x = m->forward(x);
  return x;
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t i) const {
  if (i >= modules_.size())
    throw ValueError("Sequential: index " + std::to_string(i) + " is out of range for " +
                     std::to_string(modules_.size()) + " modules");
  return modules_[i];
}

}  // namespace tapeflow::nn

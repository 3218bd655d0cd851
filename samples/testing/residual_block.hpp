// SPDX-License-Identifier: MIT
// A user's own layer, the kind of model code testing.hpp is for: a residual block
// y = x + fc2(tanh(fc1(x))), which keeps its input's shape [..., features].
#pragma once
#include <tapeflow/tapeflow.hpp>

#include <cstdint>
#include <memory>
#include <string>

class ResidualBlock : public tapeflow::nn::Module {
 public:
  ResidualBlock(int64_t features, int64_t hidden)
      : Module("ResidualBlock"),
        fc1(register_module("fc1", tapeflow::nn::Linear(features, hidden))),
        fc2(register_module("fc2", tapeflow::nn::Linear(hidden, features))) {}

  tapeflow::Tensor forward(const tapeflow::Tensor& x) override {
    return x + fc2->forward(tapeflow::tanh(fc1->forward(x)));
  }
  std::string extra_repr() const override {
    return std::to_string(fc1->in_features) + ", hidden=" + std::to_string(fc1->out_features);
  }

  std::shared_ptr<tapeflow::nn::Linear> fc1;
  std::shared_ptr<tapeflow::nn::Linear> fc2;
};

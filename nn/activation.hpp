// SPDX-License-Identifier: MIT
// Activations as functions (nn::functional) and as modules for Sequential.
#pragma once
#include "../tensor/ops.hpp"
#include "module.hpp"

namespace tapeflow::nn {

namespace functional {
using tapeflow::log_softmax;
using tapeflow::relu;
using tapeflow::sigmoid;
using tapeflow::softmax;
using tapeflow::tanh;
/// x where x > 0, else negative_slope * x.
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
enum class GeluApproximation { None, Tanh };
/// x * Φ(x) with Φ the standard normal CDF (exact, via erf), or PyTorch's tanh approximation.
Tensor gelu(const Tensor& x, GeluApproximation approximate = GeluApproximation::None);
}  // namespace functional

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : Module("LeakyReLU"), negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override { return functional::leaky_relu(x, negative_slope); }
  std::string extra_repr() const override;
  double negative_slope;
};

class GELU : public Module {
 public:
  explicit GELU(functional::GeluApproximation approximate = functional::GeluApproximation::None)
      : Module("GELU"), approximate(approximate) {}
  Tensor forward(const Tensor& x) override { return functional::gelu(x, approximate); }
  functional::GeluApproximation approximate;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override { return tanh(x); }
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};

class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim = -1) : Module("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override { return softmax(x, dim); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim = -1) : Module("LogSoftmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override { return log_softmax(x, dim); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};

}  // namespace tapeflow::nn

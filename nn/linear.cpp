// SPDX-License-Identifier: MIT
#include "linear.hpp"

#include <cmath>

#include "../tensor/ops.hpp"
#include "init.hpp"

namespace tapeflow::nn {

Tensor functional::linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  if (!input.defined() || !weight.defined()) throw ValueError("linear: got an undefined input or weight");
  if (weight.dim() != 2 || input.dim() < 1 || input.size(-1) != weight.size(1))
    throw ShapeError("linear: input " + shape_str(input.shape()) + " does not fit weight " +
                     shape_str(weight.shape()) + " (expected [..., " +
                     (weight.dim() == 2 ? std::to_string(weight.size(1)) : std::string("in")) + "])");
  Tensor y = matmul(input, weight.t());
  return bias.defined() ? y + bias : y;
}

Linear::Linear(int64_t in, int64_t out, LinearOptions options)
    : Module("Linear"), in_features(in), out_features(out) {
  if (in <= 0 || out <= 0)
    throw ValueError("Linear: in_features and out_features must be positive, got " + std::to_string(in) +
                     " and " + std::to_string(out));
  shape_numel({out, in}, "Linear");  // name the module when the weight cannot exist
  weight = register_parameter("weight", empty({out, in}));
  if (options.bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void Linear::reset_parameters() {
  // LibTorch: kaiming_uniform_(a = sqrt(5)) on the weight, which is U(±1/sqrt(fan_in)).
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}

Tensor Linear::forward(const Tensor& input) { return functional::linear(input, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (bias.defined() ? "true" : "false");
}

Flatten::Flatten(int64_t start, int64_t end) : Module("Flatten"), start_dim(start), end_dim(end) {}
Tensor Flatten::forward(const Tensor& input) { return flatten(input, start_dim, end_dim); }
std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

}  // namespace tapeflow::nn

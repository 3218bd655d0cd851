// SPDX-License-Identifier: MIT
#include "activation.hpp"

#include <cmath>
#include <numbers>

namespace tapeflow::nn {

Tensor functional::leaky_relu(const Tensor& x, double negative_slope) {
  return where(x > 0.0, x, x * negative_slope);
}

Tensor functional::gelu(const Tensor& x, GeluApproximation approximate) {
  switch (approximate) {
    case GeluApproximation::None: return 0.5 * x * (1.0 + erf(x * std::numbers::sqrt2 / 2));
    case GeluApproximation::Tanh: {
      const double k = std::sqrt(2.0 / std::numbers::pi);
      return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
  }
  throw ValueError("gelu: unknown approximation");
}

std::string LeakyReLU::extra_repr() const { return "negative_slope=" + std::to_string(negative_slope); }

}  // namespace tapeflow::nn

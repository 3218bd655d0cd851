// SPDX-License-Identifier: MIT
#include "dropout.hpp"

#include "../tensor/ops.hpp"

namespace tapeflow::nn {

namespace {
void check_p(double p) {
  if (!(p >= 0.0 && p <= 1.0)) throw ValueError("dropout: probability must be in [0, 1], got " + std::to_string(p));
}
}  // namespace

Tensor functional::dropout(const Tensor& x, double p, bool training) {
  check_p(p);
  if (!x.defined()) throw ValueError("dropout: got an undefined tensor");
  if (!training || p == 0.0) return x;
  if (!is_floating(x.dtype())) throw DTypeError(std::string("dropout: needs a floating tensor, got ") + dtype_name(x.dtype()));
  if (p == 1.0) return x * 0.0;
  // The mask is a constant of the recorded graph: the gradient is masked and scaled the same way.
  Tensor keep = (rand(x.shape(), {.dtype = x.dtype(), .device = x.device()}) >= p).to(x.dtype());
  return x * (keep * (1.0 / (1.0 - p)));
}

Dropout::Dropout(double p) : Module("Dropout"), p(p) { check_p(p); }

}  // namespace tapeflow::nn

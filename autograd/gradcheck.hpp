// SPDX-License-Identifier: MIT
#pragma once
#include <functional>
#include <vector>

#include "../tensor/tensor.hpp"

namespace tapeflow {

/// Tolerances of gradcheck: an analytic value a passes against the numeric n when
/// |a - n| <= atol + rtol * |n|.
struct GradcheckOptions {
  double eps = 1e-6;   ///< central-difference step
  double atol = 1e-7;
  double rtol = 1e-6;
  uint64_t seed = 0;   ///< seeds the random weights w of L = sum(w * f(x))
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

/// The fixed weights w of L = sum(w * f(x)): Float64 values in [0.5, 1.5), never zero, drawn
/// from `seed` alone, so a check neither depends on nor moves the global generator. On the CPU
/// (gradcheck moves them to the function's device).
Tensor gradcheck_weights(const Shape& shape, uint64_t seed);

/// Compares the tape's gradient of L = sum(w * fn(inputs)) (w fixed random weights, so that a
/// transposed gradient cannot pass) with float64 central differences, for every input that
/// requires grad. Inputs should be Float64. Returns true, or throws AutogradError naming the
/// input, the element, and both values. Inputs may live on any device (perturbed copies are
/// made on each input's device, the weights on the result's); values cross to the host only to
/// be read.
bool gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
               const GradcheckOptions& options = {});

/// gradcheck of the first derivative itself: checks second derivatives (create_graph) of fn.
bool gradgradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                   const GradcheckOptions& options = {});

}  // namespace tapeflow

// SPDX-License-Identifier: MIT
// Gradient checks of whole modules: the tape's gradients with respect to the inputs AND the
// parameters, against float64 central differences (autograd/gradcheck.hpp does the numerics).
//
//   nn::Linear fc(3, 2);
//   fc.to(Float64);
//   Tensor x = randn({4, 3}, {.dtype = Float64}).requires_grad_();
//   nn::gradcheck(fc, {x});                                       // Module::forward(x)
//   nn::gradcheck(block, [&](const std::vector<Tensor>& in) { return block.attend(in[0], in[1]); },
//                 {q, k});                                        // any other signature
#pragma once
#include <vector>

#include "../autograd/gradcheck.hpp"
#include "module.hpp"

namespace tapeflow::nn {

/// Checks module.forward(inputs[0]) (exactly one input) with respect to every input that
/// requires grad and every parameter of the module that requires grad, each in turn, with
/// tapeflow::gradcheck's weighted loss and tolerances. Parameters and floating inputs must be
/// Float64 (DTypeError naming the offending parameter or input), on whatever device the module
/// runs on: a module on the GPU is checked there (the differences are taken in float64 either
/// way). The
/// module is left exactly as it was: parameter and buffer values, gradients, requires_grad,
/// the parameters' version counters, training mode, and the random generator (each evaluation
/// replays the same random draws, so a Dropout in training mode is checked with one fixed mask;
/// a BatchNorm in training mode gets its running statistics back, though their version counters
/// keep the advance its own updates made). Returns true, or throws AutogradError naming the
/// module, the parameter or input, the element and both values.
bool gradcheck(Module& module, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

/// Same, for a callable that runs the module with any signature: `fn(inputs)`. The callable
/// must compute with the module's own parameters (gradcheck perturbs them where they are).
bool gradcheck(Module& module, const GradcheckFn& fn, const std::vector<Tensor>& inputs,
               const GradcheckOptions& options = {});

/// Second derivatives: checks the gradient of sum(v * forward(x)) (fixed random v) with respect
/// to all inputs and parameters that require grad, differentiated by each of them in turn, so
/// mixed derivatives (input-parameter, parameter-parameter) are covered too.
bool gradgradcheck(Module& module, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

/// gradgradcheck for a callable that runs the module, as for gradcheck.
bool gradgradcheck(Module& module, const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                   const GradcheckOptions& options = {});

}  // namespace tapeflow::nn

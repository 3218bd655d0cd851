// SPDX-License-Identifier: MIT
#include "gradcheck.hpp"

#include <cmath>
#include <sstream>

#include "../tensor/ops.hpp"
#include "tape.hpp"

namespace tapeflow {

namespace {

// Inputs as fresh float64 leaves with their own (contiguous) storage: the numeric side
// perturbs these and never the caller's tensors.
Tensor leaf_copy(const Tensor& x) {
  NoGradGuard off;
  return x.to(DType::Float64).clone().detach();
}

}  // namespace

Tensor gradcheck_weights(const Shape& shape, uint64_t seed) {
  std::vector<double> w(static_cast<std::size_t>(shape_numel(shape)));
  uint64_t state = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (double& v : w) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    v = 0.5 + static_cast<double>(state >> 11) * 0x1.0p-53;
  }
  return tensor(w, shape, {.dtype = DType::Float64});
}

bool gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& o) {
  // Fixed random weights w: L = sum(w * f(x)) exposes transposed or permuted gradients.
  Tensor probe;
  {
    NoGradGuard off;
    probe = fn(inputs);
  }
  if (!probe.defined() || !is_floating(probe.dtype()))
    throw AutogradError("gradcheck: the function must return a floating tensor");
  // On the function's device (to() is a no-op on the CPU): mixing devices would throw.
  Tensor weights = gradcheck_weights(probe.shape(), o.seed).to(probe.device());
  auto loss = [&](const std::vector<Tensor>& xs) { return sum(fn(xs).to(DType::Float64) * weights); };

  std::vector<Tensor> wrt;
  std::vector<std::size_t> wrt_index;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) wrt.push_back(inputs[i]), wrt_index.push_back(i);
  if (wrt.empty()) throw AutogradError("gradcheck: no input requires grad");
  auto analytic = grad({loss(inputs)}, wrt, {.allow_unused = true});

  std::vector<Tensor> perturbed;
  for (const Tensor& x : inputs) perturbed.push_back(x.defined() && is_floating(x.dtype()) ? leaf_copy(x) : x);
  NoGradGuard off;
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    const std::size_t i = wrt_index[k];
    Tensor& x = perturbed[i];
    // Perturbed copies live where the input does, so a function of GPU inputs stays on the GPU.
    const Device device = inputs[i].device();
    auto base = x.to_vector<double>();
    auto a = analytic[k].defined() ? analytic[k].to(DType::Float64).to_vector<double>()
                                   : std::vector<double>(base.size(), 0.0);
    for (std::size_t e = 0; e < base.size(); ++e) {
      auto eval = [&](double v) {
        auto vals = base;
        vals[e] = v;
        x = tensor(vals, inputs[i].shape(), {.dtype = DType::Float64, .device = device});
        return loss(perturbed).item<double>();
      };
      const double numeric = (eval(base[e] + o.eps) - eval(base[e] - o.eps)) / (2 * o.eps);
      x = tensor(base, inputs[i].shape(), {.dtype = DType::Float64, .device = device});
      if (!(std::abs(a[e] - numeric) <= o.atol + o.rtol * std::abs(numeric))) {
        std::ostringstream msg;
        msg.precision(12);
        msg << "gradcheck: gradient mismatch for input " << i << " (shape " << shape_str(inputs[i].shape());
        if (!device.is_cpu()) msg << ", on " << device.str();
        msg << "), element " << e << ": analytic " << a[e] << ", numeric " << numeric << " (|diff| "
            << std::abs(a[e] - numeric) << " > atol " << o.atol << " + rtol " << o.rtol << " * |numeric|)";
        throw AutogradError(msg.str());
      }
    }
  }
  return true;
}

bool gradgradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& o) {
  // The first derivative of sum(v * f(x)) (fixed v) is itself a function of x; check its gradient.
  Tensor probe;
  {
    NoGradGuard off;
    probe = fn(inputs);
  }
  Tensor v = gradcheck_weights(probe.shape(), o.seed + 1).to(probe.device());
  std::vector<bool> wrt_mask;
  for (const Tensor& x : inputs) wrt_mask.push_back(x.defined() && x.requires_grad());
  GradcheckFn first = [&](const std::vector<Tensor>& xs) {
    // gradcheck evaluates fn under NoGradGuard and on copies that do not require grad; the
    // inner derivative still has to be recorded, on leaves standing in for those copies.
    EnableGradGuard on;
    std::vector<Tensor> args = xs, wrt;
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (!wrt_mask[i]) continue;
      if (!args[i].requires_grad()) args[i] = args[i].detach().requires_grad_();
      wrt.push_back(args[i]);
    }
    auto gs = grad({sum(fn(args) * v)}, wrt, {.create_graph = true, .allow_unused = true});
    std::vector<Tensor> flat;
    for (std::size_t i = 0; i < gs.size(); ++i)
      flat.push_back((gs[i].defined() ? gs[i] : zeros_like(wrt[i])).reshape({-1}));
    return concat(flat, 0);
  };
  return gradcheck(first, inputs, o);
}

}  // namespace tapeflow

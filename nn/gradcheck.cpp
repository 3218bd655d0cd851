// SPDX-License-Identifier: MIT
// tapeflow::gradcheck perturbs contiguous COPIES of its inputs, so a parameter handed to it as
// an extra input would be perturbed where the module never looks. Instead each parameter is
// checked through a wrapper: when gradcheck passes the parameter itself (its probe and analytic
// passes) the module runs as it is and the tape reaches the parameter; when gradcheck passes a
// perturbed copy (the numeric side) the copy's values are written into the parameter's storage
// first. The writes go straight to memory, without a version bump, so tape entries that saved
// the parameter stay valid, and the original bytes are put back on every exit path.
#include "gradcheck.hpp"

#include <cstring>
#include <string>
#include <utility>

#include "../autograd/tape.hpp"
#include "../tensor/detail/kernels.hpp"
#include "../tensor/detail/tensor_impl.hpp"
#include "../tensor/ops.hpp"

namespace tapeflow::nn {

namespace {

using Bytes = std::vector<unsigned char>;

Bytes bytes_of(const Tensor& t) {
  Bytes out(static_cast<std::size_t>(t.numel()) * element_size(t.dtype()));
  if (!out.empty()) t.copy_to_host(out.data(), t.dtype());
  return out;
}

// Writes row-major elements of t's own dtype into t's storage, honouring its strides.
void write_bytes(const Tensor& t, const unsigned char* src) {
  if (!t.device().is_cpu()) {
    // Through the backend's copy, which counts a write; the count is put back, as the CPU path
    // below never makes it.
    detail::Storage& storage = *t.impl()->storage;
    const uint32_t version = storage.version;
    detail::kernel::copy_into(t, from_blob(src, t.shape(), t.dtype()));
    storage.version = version;
    return;
  }
  const std::size_t es = element_size(t.dtype());
  auto* base = static_cast<unsigned char*>(t.data_ptr(t.dtype()));
  const Shape& shape = t.shape();
  const Shape& strides = t.strides();
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t k = 0; k < t.numel(); ++k) {
    int64_t at = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) at += idx[d] * strides[d];
    std::memcpy(base + at * static_cast<int64_t>(es), src + static_cast<std::size_t>(k) * es, es);
    for (std::size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

// Everything a check may disturb, put back by the destructor (also when the check throws).
class ModuleSnapshot {
 public:
  explicit ModuleSnapshot(Module& module) : rng_(get_rng_state()) {
    for (auto& [name, p] : module.named_parameters())
      params_.push_back({p, bytes_of(p), p.grad(), p.requires_grad()});
    for (auto& [name, b] : module.named_buffers()) buffers_.push_back({b, bytes_of(b), Tensor(), false});
  }
  ModuleSnapshot(const ModuleSnapshot&) = delete;
  ModuleSnapshot& operator=(const ModuleSnapshot&) = delete;
  ~ModuleSnapshot() {
    try {
      for (Saved& s : params_) {
        restore_values(s);
        if (s.tensor.grad().impl() != s.grad.impl()) s.tensor.set_grad(s.grad);
        if (s.tensor.requires_grad() != s.requires_grad) s.tensor.requires_grad_(s.requires_grad);
      }
      for (Saved& s : buffers_) restore_values(s);
      set_rng_state(rng_);
    } catch (...) {
      // NOTE: a destructor must not throw; restoring values into tensors we hold cannot fail short
      // of a broken backend.
    }
  }

  /// The generator as it was when the check started: every forward replays the same draws.
  void replay_rng() const { set_rng_state(rng_); }

 private:
  struct Saved {
    Tensor tensor;
    Bytes bytes;
    Tensor grad;
    bool requires_grad;
  };
  static void restore_values(const Saved& s) {
    if (bytes_of(s.tensor) != s.bytes) write_bytes(s.tensor, s.bytes.data());
  }

  std::string rng_;
  std::vector<Saved> params_;
  std::vector<Saved> buffers_;
};

// One tensor gradcheck differentiates with respect to, in turn.
struct Target {
  std::string label;  // "input 0", "parameter 'fc.weight'"
  Tensor tensor;
  bool is_parameter;
};

void validate(const char* who, const Module& module, const std::vector<Tensor>& inputs) {
  for (const auto& [name, p] : module.named_parameters()) {
    if (p.dtype() != DType::Float64)
      throw DTypeError(std::string(who) + ": parameter '" + name + "' is " + dtype_name(p.dtype()) +
                       "; call module.to(Float64) first");
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined()) continue;
    if (is_floating(x.dtype()) && x.dtype() != DType::Float64)
      throw DTypeError(std::string(who) + ": input " + std::to_string(i) + " is " + dtype_name(x.dtype()) +
                       "; pass Float64 inputs (x.to(Float64))");
  }
}

bool check(const char* who, Module& module, const GradcheckFn& fn, const std::vector<Tensor>& inputs,
           const GradcheckOptions& options, bool second_order) {
  validate(who, module, inputs);
  ModuleSnapshot snapshot(module);
  const std::size_t n_in = inputs.size();

  std::vector<Target> targets;
  for (std::size_t i = 0; i < n_in; ++i)
    if (inputs[i].defined() && inputs[i].requires_grad())
      targets.push_back({"input " + std::to_string(i), inputs[i], false});
  for (const auto& [name, p] : module.named_parameters())
    if (p.requires_grad()) targets.push_back({"parameter '" + name + "'", p, true});
  if (targets.empty())
    throw AutogradError(std::string(who) + "(" + module.type_name() +
                        "): nothing to check: no input and no parameter requires grad");

  // Runs fn on the first n_in arguments; a parameter under check rides along as the last one.
  bool written = false;  // the parameter under check holds values a numeric pass wrote
  Bytes original;        // ... and these are its own
  auto run = [&](const Target& t, const std::vector<Tensor>& xs) {
    if (t.is_parameter) {
      const Tensor& x = xs.back();
      if (!x.shares_storage_with(t.tensor)) {
        NoGradGuard off;
        write_bytes(t.tensor, bytes_of(x.to(DType::Float64).contiguous()).data());
        written = true;
      } else if (written) {  // the parameter itself: it must hold its own values again
        write_bytes(t.tensor, original.data());
        written = false;
      }
    }
    snapshot.replay_rng();
    return fn(std::vector<Tensor>(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(n_in)));
  };

  Tensor v;  // second order: the weights of sum(v * f) whose gradient is checked
  if (second_order) {
    Tensor probe;
    {
      NoGradGuard off;
      snapshot.replay_rng();
      probe = fn(inputs);
    }
    if (!probe.defined() || !is_floating(probe.dtype()))
      throw AutogradError(std::string(who) + ": the function must return a floating tensor");
    v = gradcheck_weights(probe.shape(), options.seed + 1).to(probe.device());
  }

  for (const Target& t : targets) {
    // Only the target requires grad in what gradcheck sees; the other inputs go in detached.
    std::vector<Tensor> args = inputs;
    for (Tensor& a : args)
      if (a.defined() && a.requires_grad() && !(!t.is_parameter && a.impl() == t.tensor.impl())) a = a.detach();
    if (t.is_parameter) {
      args.push_back(t.tensor);
      original = bytes_of(t.tensor);
      written = false;
    }

    GradcheckFn wrapped;
    if (!second_order) {
      wrapped = [&](const std::vector<Tensor>& xs) { return run(t, xs); };
    } else {
      // The first derivative with respect to everything that requires grad, as a function of xs.
      wrapped = [&](const std::vector<Tensor>& xs) {
        EnableGradGuard on;  // gradcheck's numeric side runs under NoGradGuard
        std::vector<Tensor> leaves = xs, wrt;
        for (std::size_t i = 0; i < n_in; ++i) {
          if (!(inputs[i].defined() && inputs[i].requires_grad())) continue;
          if (!leaves[i].requires_grad()) leaves[i] = leaves[i].detach().requires_grad_();
          wrt.push_back(leaves[i]);
        }
        for (const auto& [name, p] : module.named_parameters())
          if (p.requires_grad()) wrt.push_back(p);
        Tensor y = run(t, leaves);
        auto gs = grad({sum(y.to(DType::Float64) * v)}, wrt, {.create_graph = true, .allow_unused = true});
        std::vector<Tensor> flat;
        for (std::size_t k = 0; k < gs.size(); ++k)
          flat.push_back((gs[k].defined() ? gs[k] : zeros_like(wrt[k])).reshape({-1}));
        return concat(flat, 0);
      };
    }
    try {
      tapeflow::gradcheck(wrapped, args, options);
      if (written) write_bytes(t.tensor, original.data()), written = false;
    } catch (const AutogradError& e) {
      std::string inner = e.what();
      if (inner.rfind("gradcheck: ", 0) == 0) inner.erase(0, 11);  // the context below names the check
      throw AutogradError(std::string(who) + "(" + module.type_name() + "), checking " +
                          (second_order ? "second derivatives with respect to " : "the gradient with respect to ") +
                          t.label + " " + shape_str(t.tensor.shape()) + ": " + inner);
    }
  }
  return true;
}

GradcheckFn module_forward(const char* who, Module& module, const std::vector<Tensor>& inputs) {
  if (inputs.size() != 1)
    throw ValueError(std::string(who) + "(" + module.type_name() + "): Module::forward takes one tensor, got " +
                     std::to_string(inputs.size()) + " inputs; for other signatures pass a callable: " + who +
                     "(module, [&](const std::vector<Tensor>& in) { return module.f(in[0], in[1]); }, inputs)");
  return [&module](const std::vector<Tensor>& xs) { return module.forward(xs[0]); };
}

}  // namespace

bool gradcheck(Module& module, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  return check("gradcheck", module, module_forward("gradcheck", module, inputs), inputs, options, false);
}
bool gradcheck(Module& module, const GradcheckFn& fn, const std::vector<Tensor>& inputs,
               const GradcheckOptions& options) {
  return check("gradcheck", module, fn, inputs, options, false);
}
bool gradgradcheck(Module& module, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  return check("gradgradcheck", module, module_forward("gradgradcheck", module, inputs), inputs, options, true);
}
bool gradgradcheck(Module& module, const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                   const GradcheckOptions& options) {
  return check("gradgradcheck", module, fn, inputs, options, true);
}

}  // namespace tapeflow::nn

// SPDX-License-Identifier: MIT
#include "module.hpp"

#include <ostream>
#include <sstream>

#include "../autograd/tape.hpp"
#include "../tensor/detail/tensor_impl.hpp"
#include "../tensor/ops.hpp"

namespace tapeflow::nn {

namespace {

void check_name(const std::string& module, const std::string& name, const char* what) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw ValueError(module + ": " + what + " name '" + name + "' must be non-empty and contain no '.'");
}

/// Gives `dst` the data of `src` while keeping its handle (and so every member copy of it).
void replace_data(Tensor& dst, const Tensor& src) {
  tapeflow::detail::TensorImpl& d = *dst.impl();
  const tapeflow::detail::TensorImpl& s = *src.impl();
  d.storage = s.storage;
  d.shape = s.shape;
  d.strides = s.strides;
  d.offset = s.offset;
  d.numel = s.numel;
  d.dtype = s.dtype;
  d.grad = Tensor();
}

}  // namespace

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}
Module::~Module() = default;
Module::Module(Module&&) noexcept = default;
Module& Module::operator=(Module&&) noexcept = default;

Tensor Module::forward(const Tensor&) {
  throw NotImplemented(type_name_ + ": this module has no one-tensor forward(); call its own forward");
}

Tensor Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_name(type_name_, name, "parameter");
  if (!tensor.defined()) throw ValueError(type_name_ + ": parameter '" + name + "' is undefined");
  if (!tensor.is_leaf())
    throw AutogradError(type_name_ + ": parameter '" + name + "' must be a leaf (detach() it first)");
  // Refused before requires_grad_ touches the tensor: a failed registration changes nothing.
  for (const auto& [n, t] : parameters_)
    if (n == name) throw ValueError(type_name_ + ": parameter '" + name + "' is already registered");
  tensor.requires_grad_(requires_grad);
  parameters_.emplace_back(std::move(name), tensor);
  return tensor;
}

Tensor Module::register_buffer(std::string name, Tensor tensor) {
  check_name(type_name_, name, "buffer");
  if (!tensor.defined()) throw ValueError(type_name_ + ": buffer '" + name + "' is undefined");
  for (const auto& [n, t] : buffers_)
    if (n == name) throw ValueError(type_name_ + ": buffer '" + name + "' is already registered");
  buffers_.emplace_back(std::move(name), tensor);
  return tensor;
}

void Module::add_child(std::string name, std::shared_ptr<Module> child) {
  check_name(type_name_, name, "submodule");
  if (!child) throw ValueError(type_name_ + ": submodule '" + name + "' is null");
  for (const auto& [n, c] : children_)
    if (n == name) throw ValueError(type_name_ + ": submodule '" + name + "' is already registered");
  child->train(training_);
  children_.emplace_back(std::move(name), std::move(child));
}

void Module::collect(const std::string& prefix, bool recurse, bool buffers, NamedTensors& out) const {
  for (const auto& [name, t] : buffers ? buffers_ : parameters_) out.emplace_back(prefix + name, t);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", true, buffers, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", recurse, false, out);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", recurse, true, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

StateDict Module::state_dict() const {
  StateDict out;
  for (auto& [name, t] : named_parameters()) out.emplace(name, t.detach());
  for (auto& [name, t] : named_buffers()) out.emplace(name, t.detach());
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  NamedTensors targets = named_parameters();
  for (auto& nt : named_buffers()) targets.push_back(nt);
  // Check everything first so a bad entry leaves the module untouched.
  std::vector<std::pair<Tensor, Tensor>> copies;
  std::size_t matched = 0;
  for (auto& [name, t] : targets) {
    auto it = state.find(name);
    if (it == state.end()) {
      if (strict) throw ValueError(type_name_ + ".load_state_dict: missing '" + name + "'");
      continue;
    }
    ++matched;
    if (!it->second.defined() || it->second.shape() != t.shape())
      throw ShapeError(type_name_ + ".load_state_dict: '" + name + "' has shape " +
                       (it->second.defined() ? shape_str(it->second.shape()) : std::string("<undefined>")) +
                       " but the module expects " + shape_str(t.shape()));
    copies.emplace_back(t, it->second);
  }
  if (strict && matched != state.size())
    for (const auto& [name, t] : state) {
      bool known = false;
      for (auto& [n, tt] : targets) known = known || n == name;
      if (!known) throw ValueError(type_name_ + ".load_state_dict: unexpected '" + name + "'");
    }
  NoGradGuard off;
  for (auto& [dst, src] : copies) dst.copy_(src);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(Device device) {
  for (NamedTensors list : {named_parameters(), named_buffers()})
    for (auto& [name, t] : list) {
      if (t.device() == device) continue;
      Tensor moved = t.detach().to(device);
      replace_data(t, moved);
    }
}

void Module::to(DType dtype) {
  if (!is_floating(dtype)) throw DTypeError(type_name_ + ".to: parameters must stay floating point, got " + dtype_name(dtype));
  for (NamedTensors list : {named_parameters(), named_buffers()})
    for (auto& [name, t] : list) {
      if (t.dtype() == dtype || !is_floating(t.dtype())) continue;
      Tensor converted = t.detach().to(dtype);
      replace_data(t, converted);
    }
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.set_grad(Tensor());
}

void Module::print(std::ostream& os, int indent) const {
  os << type_name_ << '(' << extra_repr();
  if (!children_.empty()) {
    os << '\n';
    for (const auto& [name, child] : children_) {
      os << std::string(indent + 2, ' ') << '(' << name << "): ";
      child->print(os, indent + 2);
      os << '\n';
    }
    os << std::string(indent, ' ');
  }
  os << ')';
}

std::string Module::str() const {
  std::ostringstream os;
  print(os, 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& module) { return os << module.str(); }

}  // namespace tapeflow::nn

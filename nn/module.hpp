// SPDX-License-Identifier: MIT
#pragma once
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../tensor/state_dict.hpp"
#include "../tensor/tensor.hpp"

namespace tapeflow::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Base of every layer and model, as in LibTorch: a module registers its parameters (tensors
/// that require grad), buffers (state that is saved but not trained, like batch norm's running
/// statistics) and submodules by name, and the rest follows: parameters() for the optimizer,
/// dotted names ("encoder.0.weight") for checkpoints, train()/eval(), to(), zero_grad().
///
///   struct Net : nn::Module {
///     std::shared_ptr<nn::Linear> fc1 = register_module("fc1", nn::Linear(784, 256));
///     std::shared_ptr<nn::Linear> fc2 = register_module("fc2", nn::Linear(256, 10));
///     Net() : Module("Net") {}
///     Tensor forward(const Tensor& x) override { return fc2->forward(relu(fc1->forward(x))); }
///   };
///
/// Members keep handles to what they register; the module's own lists hold the same handles,
/// and to()/load_state_dict() update tensors in place, so both stay in step. Modules move but
/// do not copy (a copy would share parameters silently).
class Module {
 public:
  explicit Module(std::string type_name = "Module");
  virtual ~Module();
  Module(Module&&) noexcept;
  Module& operator=(Module&&) noexcept;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The one-tensor forward that Sequential chains; modules with other signatures (losses,
  /// recurrent layers) keep this default, which throws NotImplemented naming the module.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  /// In registration order, this module's first, then each submodule's (recursively).
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  /// Parameters and buffers by dotted name, detached (saving must not hold the tape).
  StateDict state_dict() const;
  /// Copies values into the registered tensors in place. With `strict`, missing or unexpected
  /// names throw ValueError; a shape mismatch always throws. Nothing is changed unless all of
  /// `state` fits.
  void load_state_dict(const StateDict& state, bool strict = true);

  /// Training mode (the default) or evaluation mode, for this module and all submodules:
  /// Dropout and BatchNorm behave differently in each.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Moves (or converts) every parameter and buffer in place; gradients are cleared.
  void to(Device device);
  void to(DType dtype);
  /// Clears every parameter's gradient.
  void zero_grad();

  const std::string& type_name() const { return type_name_; }
  /// The constructor arguments that identify this module, for printing ("784, 10, bias=true").
  virtual std::string extra_repr() const { return ""; }
  /// Multi-line description in PyTorch's format: the type, extra_repr() and the submodules.
  std::string str() const;

 protected:
  /// Registers a parameter (made to require grad unless `requires_grad` is false) and returns
  /// the handle to keep as a member.
  Tensor register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  Tensor register_buffer(std::string name, Tensor tensor);
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: not an nn::Module");
    add_child(std::move(name), module);
    return module;
  }
  /// Takes a module by value: `register_module("fc", nn::Linear(4, 2))`.
  template <typename M, typename = std::enable_if_t<std::is_base_of_v<Module, std::decay_t<M>> &&
                                                    !std::is_lvalue_reference_v<M>>>
  std::shared_ptr<std::decay_t<M>> register_module(std::string name, M&& module) {
    return register_module(std::move(name), std::make_shared<std::decay_t<M>>(std::move(module)));
  }

 private:
  void add_child(std::string name, std::shared_ptr<Module> child);
  void collect(const std::string& prefix, bool recurse, bool buffers, NamedTensors& out) const;
  void print(std::ostream& os, int indent) const;

  std::string type_name_;
  bool training_ = true;
  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

/// Prints str().
std::ostream& operator<<(std::ostream& os, const Module& module);

}  // namespace tapeflow::nn

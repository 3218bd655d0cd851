// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "module.hpp"

namespace tapeflow::nn {

namespace traits {
template <typename T>
struct is_module_ptr : std::false_type {};
template <typename T>
struct is_module_ptr<std::shared_ptr<T>> : std::is_base_of<Module, T> {};
/// A module by value (an rvalue: modules move, never copy) or a shared_ptr to one.
template <typename M>
constexpr bool is_module_arg() {
  using D = std::decay_t<M>;
  return is_module_ptr<D>::value || (std::is_base_of_v<Module, D> && !std::is_lvalue_reference_v<M>);
}
}  // namespace traits

/// Modules applied one after another, named "0", "1", ... (so parameters are "0.weight").
///
///   nn::Sequential mlp(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10));
///   Tensor logits = mlp(images);
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  template <typename... Ms,
            typename = std::enable_if_t<(sizeof...(Ms) > 0) && (traits::is_module_arg<Ms>() && ...)>>
  explicit Sequential(Ms&&... modules) : Module("Sequential") {
    (push_back(std::forward<Ms>(modules)), ...);
  }

  /// Appends a module given by value (moved in) or as a shared_ptr (shared with the caller).
  template <typename M>
  void push_back(M&& module) {
    static_assert(traits::is_module_arg<M>(), "Sequential::push_back takes an nn::Module by value or a shared_ptr to one");
    if constexpr (traits::is_module_ptr<std::decay_t<M>>::value)
      append(module);
    else
      append(std::make_shared<std::decay_t<M>>(std::move(module)));
  }

  Tensor forward(const Tensor& input) override;
  std::size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const;

 private:
  void append(std::shared_ptr<Module> module);

  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace tapeflow::nn

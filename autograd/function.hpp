// SPDX-License-Identifier: MIT
// User-defined differentiable ops, in LibTorch's shape:
//
//   struct Cube : Function<Cube> {
//     static Tensor forward(FunctionCtx& ctx, const Tensor& x) { ctx.save_for_backward({x}); return x * x * x; }
//     static std::vector<Tensor> backward(FunctionCtx& ctx, const Tensor& gy) {
//       auto x = ctx.saved()[0]; return {gy * 3.0 * x * x};
//     }
//   };
//   Tensor y = Cube::apply(x);
#pragma once
#include <functional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "../tensor/tensor.hpp"

namespace tapeflow {

/// What a custom Function's forward hands to its backward.
class FunctionCtx {
 public:
  /// Tensors backward needs; modifying them in place before backward is caught as an error.
  void save_for_backward(std::vector<Tensor> tensors);
  /// The saved tensors, checked against in-place modification.
  std::vector<Tensor> saved() const;
  /// needs_input_grad(i): whether the i-th tensor input of apply() requires grad.
  bool needs_input_grad(std::size_t i) const;

  std::vector<Tensor> saved_;
  std::vector<uint32_t> versions_;
  std::vector<bool> needs_input_grad_;
  std::string name_;
};

namespace detail {
using FunctionBackward = std::function<std::vector<Tensor>(FunctionCtx&, const Tensor&)>;
/// Records output as produced from inputs by a user function (the non-template core).
Tensor record_function(std::shared_ptr<FunctionCtx> ctx, const std::vector<Tensor>& inputs,
                       Tensor output, FunctionBackward backward);
/// Runs forward without recording and fills ctx's bookkeeping.
std::shared_ptr<FunctionCtx> begin_function(const char* name, const std::vector<Tensor>& inputs);
class NoGradScope {
 public:
  NoGradScope();
  ~NoGradScope();

 private:
  bool previous_;
};
}  // namespace detail

/// CRTP base: Derived supplies static forward(FunctionCtx&, args...) -> Tensor and
/// static backward(FunctionCtx&, const Tensor& grad_output) -> one gradient per tensor argument
/// (undefined where not needed). forward runs without recording; backward may use any op and is
/// itself differentiable when create_graph is set.
template <typename Derived>
struct Function {
  template <typename... Args>
  static Tensor apply(const Args&... args) {
    std::vector<Tensor> inputs;
    (collect(inputs, args), ...);
    auto ctx = detail::begin_function(typeid(Derived).name(), inputs);
    Tensor out;
    {
      detail::NoGradScope off;
      out = Derived::forward(*ctx, args...);
    }
    return detail::record_function(std::move(ctx), inputs, std::move(out), &Derived::backward);
  }

 private:
  template <typename A>
  static void collect(std::vector<Tensor>& inputs, const A& a) {
    if constexpr (std::is_same_v<A, Tensor>) inputs.push_back(a);
  }
};

}  // namespace tapeflow

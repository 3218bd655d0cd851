// SPDX-License-Identifier: MIT
// The tape entry and how ops get onto the tape.
//
// An op is a struct with a name and two static functions side by side:
//   static Tensor forward(Ctx&, const Tensor& inputs..., attributes...)
//   static Grads backward(const Ctx&, const Tensor& grad_output)   // one gradient per input
// backward is written with public, differentiable ops, so grad-of-grad needs nothing more.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "../../tensor/detail/tensor_impl.hpp"
#include "../../tensor/ops.hpp"
#include "small_vector.hpp"

namespace tapeflow::detail {

using Grads = SmallVector<Tensor, 3>;

/// A tensor kept for backward, with the storage version it had then. An op's own output is kept
/// without its grad_fn (which would be a reference cycle) and re-linked when unpacked.
struct SavedTensor {
  Tensor data;
  uint32_t version = 0;
  bool is_output = false;
};

/// What forward leaves for backward: saved tensors, input shapes and attributes.
class Ctx {
 public:
  explicit Ctx(Node* node = nullptr) : node_(node) {}
  bool recording() const { return node_ != nullptr; }

  /// Saves an input (or any tensor that is not this op's output).
  void save(const Tensor& t);
  /// Saves this op's output.
  void save_output(const Tensor& t);
  /// The i-th saved tensor; throws AutogradError if it was modified in place since.
  Tensor saved(std::size_t i) const;
  /// Whether the i-th input needs a gradient (skip work, e.g. pow's exponent).
  bool needs_grad(std::size_t i) const;

  /// Shapes of the inputs, when backward must reduce a broadcast gradient back to them.
  Shape shape[3];
  Axes axes;
  int64_t i0 = 0, i1 = 0;
  double d0 = 0.0;
  bool flag = false;

  SmallVector<SavedTensor, 3> saved_;

 private:
  Node* node_;
};

using BackwardFn = Grads (*)(const Ctx&, const Tensor& grad_output);

/// An input of a tape entry: the entry that produced it, or a leaf to accumulate into, or
/// neither (it does not require grad).
struct Edge {
  std::shared_ptr<Node> fn;
  std::shared_ptr<TensorImpl> leaf;
};

/// One tape entry. Owned by its output tensor (and by later entries that consume it), so a
/// result dropped without backward frees what it recorded.
struct Node : std::enable_shared_from_this<Node> {
  Node(const char* name, BackwardFn backward);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// "scope/name" for messages.
  std::string display_name() const;

  const char* name;
  BackwardFn backward;
  /// For custom Functions (backward == nullptr): the user's backward.
  std::function<Grads(Node&, const Tensor&)> custom_backward;
  std::shared_ptr<const std::string> scope;
  uint64_t sequence;  // recording order, process-wide: backward replays in decreasing order
  SmallVector<Edge, 3> edges;
  Ctx ctx;
  Shape output_shape;
  DType output_dtype = DType::Float32;
  bool released = false;  // saved tensors freed by a backward without retain_graph

  // Scratch of one backward pass.
  Tensor grad_buffer;
  uint64_t visit_epoch = 0;
  int capture = -1;
};

/// Per-thread recording state.
struct TapeState {
  bool grad_enabled = true;
  bool anomaly = false;
  int open_tapes = 0;
  std::shared_ptr<const std::string> scope;
};
TapeState& tape_state();

inline bool records(const Tensor& t) { return t.impl()->requires_grad; }

std::shared_ptr<Node> new_node(const char* name, BackwardFn backward);
/// Links the inputs' history to the node and the node to y.
void attach(const std::shared_ptr<Node>& node, const Tensor& y,
            std::initializer_list<const Tensor*> inputs);

template <typename Op>
Grads backward_of(const Ctx& ctx, const Tensor& gy) {
  return Op::backward(ctx, gy);
}

template <typename Op, typename... Attrs>
Tensor apply1(const Tensor& x, const Attrs&... attrs) {
  if (!tape_state().grad_enabled || !records(x)) {
    Ctx ctx;
    return Op::forward(ctx, x, attrs...);
  }
  auto node = new_node(Op::name, &backward_of<Op>);
  Tensor y = Op::forward(node->ctx, x, attrs...);
  attach(node, y, {&x});
  return y;
}

template <typename Op, typename... Attrs>
Tensor apply2(const Tensor& a, const Tensor& b, const Attrs&... attrs) {
  if (!tape_state().grad_enabled || !(records(a) || records(b))) {
    Ctx ctx;
    return Op::forward(ctx, a, b, attrs...);
  }
  auto node = new_node(Op::name, &backward_of<Op>);
  Tensor y = Op::forward(node->ctx, a, b, attrs...);
  attach(node, y, {&a, &b});
  return y;
}

template <typename Op>
Tensor apply3(const Tensor& a, const Tensor& b, const Tensor& c) {
  if (!tape_state().grad_enabled || !(records(a) || records(b) || records(c))) {
    Ctx ctx;
    return Op::forward(ctx, a, b, c);
  }
  auto node = new_node(Op::name, &backward_of<Op>);
  Tensor y = Op::forward(node->ctx, a, b, c);
  attach(node, y, {&a, &b, &c});
  return y;
}

void attach_all(const std::shared_ptr<Node>& node, const Tensor& y, const std::vector<Tensor>& inputs);

/// Reduces a broadcast gradient to `shape` (sums the broadcast dims); the one unbroadcast every
/// binary backward uses. Returns g itself when shapes already match.
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace tapeflow::detail

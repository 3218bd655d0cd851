// SPDX-License-Identifier: MIT
// The recorded tape behind a tensor as plain data: ops, the leaves they read, and which feeds
// which. Graph export (io::to_dot) and tests read this instead of autograd's private nodes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "../tensor/dtype.hpp"
#include "../tensor/shape.hpp"
#include "../tensor/tensor.hpp"

namespace tapeflow {

/// The identity graph leaves are matched by: equal for handles to the same tensor, whatever
/// their copies (`recorded_graph(y).leaves[i].id == graph_id(w)`).
inline const void* graph_id(const Tensor& t) { return t.impl(); }

/// A tensor the recorded ops read without having produced it: a leaf that requires grad (a
/// parameter, or an input being differentiated), or the tensor itself when it has no history.
struct GraphLeaf {
  /// graph_id() of the tensor; valid only as long as some handle to it lives.
  const void* id = nullptr;
  Shape shape;
  DType dtype = DType::Float32;
  bool requires_grad = false;
};

/// Where an op's input comes from.
struct GraphInput {
  enum class Kind { Op, Leaf };
  Kind kind = Kind::Op;
  /// Index into Graph::ops (Kind::Op) or Graph::leaves (Kind::Leaf).
  std::size_t index = 0;
  /// Which argument of the op it is (0 for `a` in `a - b`); inputs that do not require grad are
  /// left out of the graph, so positions can skip.
  std::size_t position = 0;
};

/// One recorded op.
struct GraphOp {
  /// The op alone ("matmul"); a custom Function gives its class name.
  std::string name;
  /// The NameScope it was recorded in ("model/fc1"), empty outside any.
  std::string scope;
  /// Shape and dtype of the op's output.
  Shape shape;
  DType dtype = DType::Float32;
  /// Inputs that require grad, in argument order; an input used twice (x * x) appears twice.
  std::vector<GraphInput> inputs;

  /// "model/fc1/matmul": the scope and the name, as error messages spell it.
  std::string full_name() const { return scope.empty() ? name : scope + "/" + name; }
};

/// What recorded_graph() returns.
struct Graph {
  /// Each op once, in recording order (so inputs come before the ops that read them).
  std::vector<GraphOp> ops;
  /// Each leaf once, in the order the ops first read them.
  std::vector<GraphLeaf> leaves;
  /// Index into ops of the op that produced the tensor; -1 when it has no history, and then
  /// leaves holds that one tensor.
  std::ptrdiff_t output = -1;

  /// Number of op inputs, i.e. of edges in a picture of the graph.
  std::size_t edge_count() const;
};

/// The ops recorded on the way to `output` and the leaves they read. Walks iteratively, so
/// 100,000-op chains work; it records nothing and frees nothing, and works after a backward()
/// that released the saved tensors. Throws ValueError for an undefined tensor.
Graph recorded_graph(const Tensor& output);

/// A summary line, then one line per leaf and per op, inputs first, without a trailing newline:
///   Graph(2 ops, 2 leaves, 3 edges, output op1)
///     leaf0: [3] float32 requires_grad
///     leaf1: [3] float32 requires_grad
///     op0: mul [3] float32 <- leaf0, leaf1
///     op1: sum [] float32 <- op0
std::ostream& operator<<(std::ostream& os, const Graph& graph);

}  // namespace tapeflow

// SPDX-License-Identifier: MIT
#include "graph.hpp"

#include <algorithm>
#include <ostream>
#include <unordered_map>
#include <utility>

#include "../tensor/detail/check.hpp"
#include "detail/node.hpp"

namespace tapeflow {

std::size_t Graph::edge_count() const {
  std::size_t n = 0;
  for (const GraphOp& op : ops) n += op.inputs.size();
  return n;
}

std::ostream& operator<<(std::ostream& os, const Graph& graph) {
  os << "Graph(" << graph.ops.size() << (graph.ops.size() == 1 ? " op, " : " ops, ") << graph.leaves.size()
     << (graph.leaves.size() == 1 ? " leaf, " : " leaves, ") << graph.edge_count()
     << (graph.edge_count() == 1 ? " edge, " : " edges, ") << "output ";
  if (graph.output >= 0) os << "op" << graph.output << ')';
  else os << (graph.leaves.empty() ? "none)" : "leaf0)");
  for (std::size_t i = 0; i < graph.leaves.size(); ++i) {
    const GraphLeaf& l = graph.leaves[i];
    os << "\n  leaf" << i << ": " << shape_str(l.shape) << ' ' << dtype_name(l.dtype);
    if (l.requires_grad) os << " requires_grad";
  }
  for (std::size_t i = 0; i < graph.ops.size(); ++i) {
    const GraphOp& op = graph.ops[i];
    os << "\n  op" << i << ": " << op.full_name() << ' ' << shape_str(op.shape) << ' ' << dtype_name(op.dtype);
    for (std::size_t k = 0; k < op.inputs.size(); ++k) {
      const GraphInput& in = op.inputs[k];
      os << (k == 0 ? " <- " : ", ") << (in.kind == GraphInput::Kind::Op ? "op" : "leaf") << in.index;
    }
  }
  return os;
}

Graph recorded_graph(const Tensor& output) {
  using detail::Node;
  TAPEFLOW_CHECK(output.defined(), ValueError, "recorded_graph", "undefined tensor");
  Graph graph;
  const detail::TensorImpl& out = *output.impl();
  if (!out.grad_fn) {
    graph.leaves.push_back(GraphLeaf{graph_id(output), out.shape, out.dtype, out.requires_grad});
    return graph;
  }

  // Every node the output depends on, once; an explicit stack rather than recursion.
  std::vector<const Node*> nodes;
  std::unordered_map<const Node*, std::size_t> found;
  std::vector<const Node*> stack{out.grad_fn.get()};
  found.emplace(out.grad_fn.get(), 0);
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    nodes.push_back(n);
    for (std::size_t i = 0; i < n->edges.size(); ++i) {
      const Node* in = n->edges[i].fn.get();
      if (in && found.emplace(in, 0).second) stack.push_back(in);
    }
  }
  // Recording order (one process-wide sequence) is topological: an entry is recorded after the
  // entries that produced its inputs, whichever thread recorded them.
  std::sort(nodes.begin(), nodes.end(), [](const Node* a, const Node* b) { return a->sequence < b->sequence; });
  for (std::size_t i = 0; i < nodes.size(); ++i) found[nodes[i]] = i;

  std::unordered_map<const detail::TensorImpl*, std::size_t> leaf_index;
  graph.ops.reserve(nodes.size());
  for (const Node* node : nodes) {
    const Node& n = *node;
    GraphOp op;
    op.name = n.name;
    if (n.scope) op.scope = *n.scope;
    op.shape = n.output_shape;
    op.dtype = n.output_dtype;
    for (std::size_t e = 0; e < n.edges.size(); ++e) {
      const detail::Edge& edge = n.edges[e];
      if (edge.fn) {
        op.inputs.push_back(GraphInput{GraphInput::Kind::Op, found.at(edge.fn.get()), e});
      } else if (edge.leaf) {
        const detail::TensorImpl* leaf = edge.leaf.get();
        auto [it, added] = leaf_index.emplace(leaf, graph.leaves.size());
        if (added)
          graph.leaves.push_back(GraphLeaf{static_cast<const void*>(leaf), leaf->shape, leaf->dtype,
                                           leaf->requires_grad});
        op.inputs.push_back(GraphInput{GraphInput::Kind::Leaf, it->second, e});
      }
    }
    graph.ops.push_back(std::move(op));
  }
  graph.output = static_cast<std::ptrdiff_t>(found.at(out.grad_fn.get()));
  return graph;
}

}  // namespace tapeflow

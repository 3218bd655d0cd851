// SPDX-License-Identifier: MIT
#include "graph.hpp"

#include <functional>
#include <queue>
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
  for (std::size_t i = 0; i < nodes.size(); ++i) found[nodes[i]] = i;

  // Recording order is topological only within one thread (each thread counts its own
  // sequence), so sort topologically and break ties by sequence: Kahn's algorithm with a
  // min-heap gives exactly the recording order whenever that is itself topological.
  std::vector<std::size_t> pending_inputs(nodes.size(), 0);
  std::vector<std::vector<std::size_t>> consumers(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (std::size_t e = 0; e < nodes[i]->edges.size(); ++e)
      if (const Node* in = nodes[i]->edges[e].fn.get()) {
        consumers[found.at(in)].push_back(i);
        ++pending_inputs[i];
      }
  using Key = std::pair<uint64_t, std::size_t>;  // (sequence, discovery index): deterministic ties
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>> ready;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (pending_inputs[i] == 0) ready.emplace(nodes[i]->sequence, i);
  std::vector<std::size_t> op_index(nodes.size());
  std::vector<std::size_t> order;
  order.reserve(nodes.size());
  while (!ready.empty()) {
    const std::size_t i = ready.top().second;
    ready.pop();
    op_index[i] = order.size();
    order.push_back(i);
    for (std::size_t c : consumers[i])
      if (--pending_inputs[c] == 0) ready.emplace(nodes[c]->sequence, c);
  }
  // NOTE: nodes only point at nodes recorded before them, so the tape cannot hold a cycle.
  TAPEFLOW_CHECK(order.size() == nodes.size(), InternalError, "recorded_graph",
                 "the recorded graph has a cycle");

  std::unordered_map<const detail::TensorImpl*, std::size_t> leaf_index;
  graph.ops.reserve(nodes.size());
  for (std::size_t i : order) {
    const Node& n = *nodes[i];
    GraphOp op;
    op.name = n.name;
    if (n.scope) op.scope = *n.scope;
    op.shape = n.output_shape;
    op.dtype = n.output_dtype;
    for (std::size_t e = 0; e < n.edges.size(); ++e) {
      const detail::Edge& edge = n.edges[e];
      if (edge.fn) {
        op.inputs.push_back(GraphInput{GraphInput::Kind::Op, op_index[found.at(edge.fn.get())], e});
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
  graph.output = static_cast<std::ptrdiff_t>(op_index[0]);
  return graph;
}

}  // namespace tapeflow

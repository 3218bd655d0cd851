// SPDX-License-Identifier: MIT
// recorded_graph(): the ops, leaves and edges of small expressions whose tape is known by hand,
// shared subexpressions, name scopes, graphs recorded across threads, and 100,000-op chains.
#include "../helpers.hpp"

#include <cstddef>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace tapeflow;
using tapeflow::test::leaf;
using Kind = GraphInput::Kind;

namespace {

// "mul(leaf0,leaf1) add(op0,leaf0) sum(op1)": the whole graph in one comparable string.
std::string describe(const Graph& g) {
  std::string s;
  for (const GraphOp& op : g.ops) {
    if (!s.empty()) s += ' ';
    s += op.full_name() + "(";
    for (std::size_t i = 0; i < op.inputs.size(); ++i) {
      if (i) s += ',';
      s += op.inputs[i].kind == Kind::Op ? "op" : "leaf";
      s += std::to_string(op.inputs[i].index);
    }
    s += ")";
  }
  return s;
}

}  // namespace

TEST_CASE("graph: a known expression gives its ops, leaves, edges and shapes", "[graph]") {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor w = leaf({4, 5, 6}, {3});
  Tensor y = (x * w + x).sum();
  const Graph g = recorded_graph(y);
  CHECK(describe(g) == "mul(leaf0,leaf1) add(op0,leaf0) sum(op1)");
  REQUIRE(g.ops.size() == 3);
  REQUIRE(g.leaves.size() == 2);
  CHECK(g.edge_count() == 5);
  CHECK(g.output == 2);
  CHECK(g.leaves[0].id == graph_id(x));
  CHECK(g.leaves[1].id == graph_id(w));
  CHECK(g.leaves[1].shape == Shape{3});
  CHECK(g.leaves[1].dtype == Float64);
  CHECK(g.leaves[1].requires_grad);
  CHECK(g.ops[0].shape == Shape{3});
  CHECK(g.ops[2].shape == Shape{});
  CHECK(g.ops[2].dtype == Float64);
  CHECK(g.ops[1].inputs[1].position == 1);
}

TEST_CASE("graph: matmul and reductions report their output shapes", "[graph]") {
  Tensor x = randn({2, 3}).requires_grad_();
  Tensor w = randn({3, 4}).requires_grad_();
  Tensor y = relu(matmul(x, w)).sum();
  const Graph g = recorded_graph(y);
  CHECK(describe(g) == "matmul(leaf0,leaf1) relu(op0) sum(op1)");
  REQUIRE(g.ops.size() == 3);
  CHECK(g.ops[0].shape == Shape{2, 4});
  CHECK(g.ops[0].dtype == Float32);
  CHECK(g.leaves[0].shape == Shape{2, 3});
  CHECK(g.leaves[1].shape == Shape{3, 4});
}

TEST_CASE("graph: a shared subexpression appears once, with one edge per use", "[graph]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor s = x * 2.0;
  Tensor y = s * s + s;
  const Graph g = recorded_graph(y);
  // The constant 2 does not require grad, so mul has one input edge.
  CHECK(describe(g) == "mul(leaf0) mul(op0,op0) add(op1,op0)");
  CHECK(g.edge_count() == 5);
  CHECK(g.leaves.size() == 1);
}

TEST_CASE("graph: each node is visited once, even with exponentially many paths", "[graph]") {
  // y = y + y twenty times: 2^20 paths from the output to x, but 20 ops.
  Tensor x = leaf({1}, {1});
  Tensor y = x;
  for (int i = 0; i < 20; ++i) y = y + y;
  const Graph g = recorded_graph(y);
  REQUIRE(g.ops.size() == 20);
  CHECK(g.leaves.size() == 1);
  CHECK(g.edge_count() == 40);
  for (std::size_t i = 1; i < g.ops.size(); ++i) {
    INFO("op " << i);
    REQUIRE(g.ops[i].inputs.size() == 2);
    CHECK(g.ops[i].inputs[0].kind == Kind::Op);
    CHECK(g.ops[i].inputs[0].index == i - 1);
    CHECK(g.ops[i].inputs[1].index == i - 1);
  }
}

TEST_CASE("graph: inputs that do not require grad are left out, positions kept", "[graph]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor c = test::f64({3, 4}, {2});
  const Graph left = recorded_graph(c - x);
  REQUIRE(left.ops.size() == 1);
  REQUIRE(left.ops[0].inputs.size() == 1);
  CHECK(left.ops[0].inputs[0].kind == Kind::Leaf);
  CHECK(left.ops[0].inputs[0].position == 1);
  const Graph right = recorded_graph(x - c);
  REQUIRE(right.ops[0].inputs.size() == 1);
  CHECK(right.ops[0].inputs[0].position == 0);
  CHECK(left.leaves.size() == 1);
}

TEST_CASE("graph: ops keep the name scope they were recorded in", "[graph]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y;
  {
    NameScope model("model");
    {
      NameScope fc1("fc1");
      y = exp(x);
    }
    y = y * y;
  }
  y = y.sum();
  const Graph g = recorded_graph(y);
  CHECK(describe(g) == "model/fc1/exp(leaf0) model/mul(op0,op0) sum(op1)");
  REQUIRE(g.ops.size() == 3);
  CHECK(g.ops[0].name == "exp");
  CHECK(g.ops[0].scope == "model/fc1");
  CHECK(g.ops[2].scope.empty());
}

TEST_CASE("graph: a tensor without history is a graph of one leaf", "[graph]") {
  Tensor c = test::f64({1, 2, 3}, {3});
  const Graph g = recorded_graph(c);
  CHECK(g.ops.empty());
  CHECK(g.output == -1);
  REQUIRE(g.leaves.size() == 1);
  CHECK(g.leaves[0].id == graph_id(c));
  CHECK(g.leaves[0].shape == Shape{3});
  CHECK_FALSE(g.leaves[0].requires_grad);

  Tensor w = leaf({1}, {1});
  const Graph gw = recorded_graph(w);
  REQUIRE(gw.leaves.size() == 1);
  CHECK(gw.leaves[0].requires_grad);
  CHECK(gw.edge_count() == 0);

  // Ops run without recording leave no history either.
  Tensor n;
  {
    NoGradGuard off;
    n = w * 2.0;
  }
  CHECK(recorded_graph(n).ops.empty());
  CHECK_THROWS_AS(recorded_graph(Tensor()), ValueError);
}

TEST_CASE("graph: the graph can be read after backward released it", "[graph]") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = (exp(x) * x).sum();
  const std::string before = describe(recorded_graph(y));
  y.backward();
  CHECK(describe(recorded_graph(y)) == before);
  CHECK(before == "exp(leaf0) mul(op0,leaf0) sum(op1)");
}

TEST_CASE("graph: ops recorded on two threads still come inputs first", "[graph]") {
  // Had each thread its own recording counter, the second thread's ops would number below the
  // mul they read, and recording order would put them first.
  Tensor x = leaf({1, 2}, {2});
  for (int i = 0; i < 5; ++i) (void)(x * 1.0);  // this thread records more than the other
  Tensor y = x * 3.0;
  Tensor z;
  std::thread([&] { z = exp(y) + 1.0; }).join();
  const Graph g = recorded_graph(z);
  CHECK(describe(g) == "mul(leaf0) exp(op0) add(op1)");
  CHECK(g.output == 2);
}

TEST_CASE("graph: a 100,000-op chain is walked without deep recursion", "[graph]") {
  constexpr std::size_t kOps = 100000;
  Tensor x = leaf({1}, {1});
  Tensor y = x;
  for (std::size_t i = 0; i < kOps; ++i) y = y + 1.0;
  const Graph g = recorded_graph(y);
  REQUIRE(g.ops.size() == kOps);
  CHECK(g.output == static_cast<std::ptrdiff_t>(kOps - 1));
  CHECK(g.leaves.size() == 1);
  bool chained = g.ops[0].inputs.size() == 1 && g.ops[0].inputs[0].kind == Kind::Leaf;
  for (std::size_t i = 1; i < kOps && chained; ++i)
    chained = g.ops[i].inputs.size() == 1 && g.ops[i].inputs[0].kind == Kind::Op && g.ops[i].inputs[0].index == i - 1;
  CHECK(chained);
}

TEST_CASE("graph: operator<< lists the leaves, then the ops with their inputs", "[graph]") {
  auto text = [](const Graph& g) {
    std::ostringstream os;
    os << g;
    return os.str();
  };
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor w = leaf({4, 5, 6}, {3});
  Tensor y;
  {
    NameScope scope("model");
    y = (x * w + x).sum();
  }
  CHECK(text(recorded_graph(y)) ==
        "Graph(3 ops, 2 leaves, 5 edges, output op2)\n"
        "  leaf0: [3] float64 requires_grad\n"
        "  leaf1: [3] float64 requires_grad\n"
        "  op0: model/mul [3] float64 <- leaf0, leaf1\n"
        "  op1: model/add [3] float64 <- op0, leaf0\n"
        "  op2: model/sum [] float64 <- op1");
  // A tensor without history is a graph of one leaf.
  CHECK(text(recorded_graph(tensor({1.f, 2.f}))) == "Graph(0 ops, 1 leaf, 0 edges, output leaf0)\n  leaf0: [2] float32");
  CHECK(text(Graph{}) == "Graph(0 ops, 0 leaves, 0 edges, output none)");
}

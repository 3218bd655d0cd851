// SPDX-License-Identifier: MIT
// io::to_dot / write_dot / render_svg: the DOT text's structure for expressions whose tape is
// known by hand (nodes, edges, shape labels, scope clusters, parameter names), that Graphviz
// itself parses it and draws the same structure, escaping of odd names, a 100,000-op chain,
// atomic writes, and render_svg's three outcomes (SVG, IOError, no Graphviz).
#include "../helpers.hpp"
#include "run_command.hpp"
#include "temp_dir.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace tapeflow;
using tapeflow::test::TempDir;

namespace {

struct DotNode {
  std::string path;  // labels of the enclosing clusters, joined by '/'
  std::string label;
  std::string cls;
  std::string attrs;
};
struct DotEdge {
  std::string from, to, label;
};
struct DotInfo {
  std::map<std::string, DotNode> nodes;
  std::vector<DotEdge> edges;
  int clusters = 0;
};

// The value of attribute `name` in a DOT attribute list, unescaped (\" \\ \n).
std::string attr(const std::string& attrs, const std::string& name) {
  const std::string key = name + "=";
  std::size_t at = 0;
  while ((at = attrs.find(key, at)) != std::string::npos && at > 0 && attrs[at - 1] != ' ' && attrs[at - 1] != '[')
    at += key.size();
  if (at == std::string::npos) return "";
  at += key.size();
  if (attrs[at] != '"') return attrs.substr(at, attrs.find_first_of(",]", at) - at);
  std::string out;
  for (std::size_t i = at + 1; i < attrs.size() && attrs[i] != '"'; ++i) {
    if (attrs[i] == '\\' && i + 1 < attrs.size()) {
      ++i;
      out += attrs[i] == 'n' ? '\n' : attrs[i];
    } else {
      out += attrs[i];
    }
  }
  return out;
}

// Reads back the layout to_dot writes: one statement per line, clusters opened by
// "subgraph cluster_N {" and labelled by the "graph [label=...]" line that follows.
DotInfo parse_dot(const std::string& dot) {
  DotInfo info;
  std::vector<std::string> stack;
  std::istringstream in(dot);
  std::string line;
  const std::regex node_re(R"(^\s*((?:op|leaf)\d+) (\[.*)\];$)");
  const std::regex edge_re(R"(^\s*(\w+) -> (\w+) (\[.*)\];$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.find("subgraph cluster_") != std::string::npos) {
      stack.emplace_back();
      ++info.clusters;
    } else if (line.find("graph [label=") != std::string::npos && !stack.empty()) {
      stack.back() = attr(line.substr(line.find('[')), "label");
    } else if (line.find_first_not_of(' ') != std::string::npos && line.substr(line.find_first_not_of(' ')) == "}") {
      if (!stack.empty()) stack.pop_back();
    } else if (std::regex_match(line, m, edge_re)) {
      info.edges.push_back({m[1], m[2], attr(m[3].str(), "label")});
    } else if (std::regex_match(line, m, node_re)) {
      std::string path;
      for (const auto& s : stack) {
        if (!path.empty()) path += '/';
        path += s;
      }
      const std::string attrs = m[2].str();
      info.nodes[m[1]] = {path, attr(attrs, "label"), attr(attrs, "class"), attrs};
    }
  }
  return info;
}

// The one node whose label's first line is `first_line`.
const DotNode& node(const DotInfo& info, const std::string& first_line, std::string* id = nullptr) {
  const DotNode* found = nullptr;
  for (const auto& [k, n] : info.nodes)
    if (n.label.substr(0, n.label.find('\n')) == first_line) {
      INFO("label " << first_line);
      REQUIRE(found == nullptr);
      found = &n;
      if (id) *id = k;
    }
  INFO("no node labelled " << first_line);
  REQUIRE(found != nullptr);
  return *found;
}

bool have_dot() { return std::system("command -v dot >/dev/null 2>&1") == 0; }

std::string slurp(const std::string& path) {
  const auto bytes = test::read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

// Files in `dir` other than `keep`: what a failed or finished write must not leave behind.
std::vector<std::string> leftovers(const TempDir& dir, const std::vector<std::string>& keep) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    const std::string name = e.path().filename().string();
    if (std::find(keep.begin(), keep.end(), name) == keep.end()) out.push_back(name);
  }
  return out;
}

// A two-layer model with name scopes; `scale` is shared by both layers.
struct Model {
  Tensor x = randn({4, 3}).requires_grad_();
  Tensor w1 = randn({3, 5}).requires_grad_();
  Tensor b1 = zeros({5}).requires_grad_();
  Tensor w2 = randn({5, 2}).requires_grad_();
  Tensor scale = ones({}).requires_grad_();
  Tensor loss;
  std::vector<std::pair<std::string, Tensor>> names{
      {"fc1.weight", w1}, {"fc1.bias", b1}, {"fc2.weight", w2}, {"scale", scale}};
  Model() {
    Tensor h, out;
    {
      NameScope model("model");
      {
        NameScope fc1("fc1");
        h = relu(matmul(x, w1) + b1) * scale;
      }
      {
        NameScope fc2("fc2");
        out = matmul(h, w2) * scale;
      }
    }
    loss = out.sum();
  }
};

}  // namespace

TEST_CASE("to_dot: one node per op and leaf, one edge per input, labelled with shapes", "[dot]") {
  Tensor x = randn({2, 3}).requires_grad_();
  Tensor w = randn({3, 4}).requires_grad_();
  Tensor y = matmul(x, w).sum();
  const DotInfo d = parse_dot(io::to_dot(y, {{"w", w}}));
  REQUIRE(d.nodes.size() == 4);
  REQUIRE(d.edges.size() == 3);
  CHECK(d.clusters == 0);
  std::string mm, sum, xin, wleaf;
  node(d, "matmul", &mm);
  const DotNode& s = node(d, "sum", &sum);
  const DotNode& xi = node(d, "input", &xin);
  const DotNode& wi = node(d, "w", &wleaf);
  CHECK(xi.cls == "input");
  CHECK(xi.label == "input\n[2, 3]");
  CHECK(wi.cls == "parameter");
  CHECK(wi.label == "w\n[3, 4]");
  CHECK(wi.attrs.find("shape=box") != std::string::npos);
  // The output's op: double border, and its (scalar) shape in the label.
  CHECK(s.label == "sum\n[]");
  CHECK(s.attrs.find("peripheries=2") != std::string::npos);
  std::map<std::string, std::string> edges;
  for (const auto& e : d.edges) edges[e.from + "->" + e.to] = e.label;
  CHECK(edges[xin + "->" + mm] == "[2, 3]");
  CHECK(edges[wleaf + "->" + mm] == "[3, 4]");
  CHECK(edges[mm + "->" + sum] == "[2, 4]");
}

TEST_CASE("to_dot: a shared subexpression is one node with an edge per use", "[dot]") {
  Tensor x = randn({3}).requires_grad_();
  Tensor s = x * 2.0;
  Tensor y = s * s + s;
  const DotInfo d = parse_dot(io::to_dot(y));
  CHECK(d.nodes.size() == 4);  // x, mul, mul, add
  CHECK(d.edges.size() == 5);  // x->mul, s->mul twice, mul->add, s->add
  int muls = 0;
  for (const auto& [id, n] : d.nodes) muls += n.label == "mul";
  CHECK(muls == 2);
  // Non-float32 shapes say their dtype.
  Tensor z = (test::leaf({1, 2}, {2}) * 3.0).sum();
  const DotInfo dz = parse_dot(io::to_dot(z));
  REQUIRE(dz.edges.size() == 2);
  CHECK(dz.edges[0].label == "[2] float64");
}

TEST_CASE("to_dot: name scopes become nested clusters; parameters sit with their ops", "[dot]") {
  Model m;
  const DotInfo d = parse_dot(io::to_dot(m.loss, m.names));
  CHECK(d.clusters == 3);  // model, model/fc1, model/fc2
  CHECK(d.nodes.size() == 12);  // 7 ops, 5 leaves
  CHECK(d.edges.size() == 12);
  int fc1_ops = 0, fc2_ops = 0;
  for (const auto& [id, n] : d.nodes) {
    INFO(id << " " << n.label << " in '" << n.path << "'");
    if (n.cls.rfind("op", 0) != 0) continue;
    const std::string name = n.label.substr(0, n.label.find('\n'));
    if (name.rfind("model/fc1/", 0) == 0) {
      CHECK(n.path == "model/fc1");
      ++fc1_ops;
    } else if (name.rfind("model/fc2/", 0) == 0) {
      CHECK(n.path == "model/fc2");
      ++fc2_ops;
    } else {
      CHECK(n.path.empty());
    }
  }
  CHECK(fc1_ops == 4);  // matmul, add, relu, mul
  CHECK(fc2_ops == 2);  // matmul, mul
  CHECK(node(d, "model/fc1/matmul").path == "model/fc1");
  CHECK(node(d, "fc1.weight").path == "model/fc1");
  CHECK(node(d, "fc1.bias").path == "model/fc1");
  CHECK(node(d, "fc2.weight").path == "model/fc2");
  CHECK(node(d, "scale").path == "model");  // read in fc1 and fc2
  CHECK(node(d, "input").path.empty());
  CHECK(node(d, "sum").path.empty());
  int params = 0;
  for (const auto& [id, n] : d.nodes) params += n.cls == "parameter";
  CHECK(params == 4);
}

TEST_CASE("to_dot: takes a module's named_parameters() as it is", "[dot]") {
  nn::Linear fc(3, 2);
  Tensor x = randn({5, 3});
  Tensor y = fc.forward(x).sum();
  const std::string dot = io::to_dot(y, fc.named_parameters());
  const DotInfo d = parse_dot(dot);
  CHECK(node(d, "weight").cls == "parameter");
  CHECK(node(d, "bias").cls == "parameter");
  CHECK(node(d, "weight").label == "weight\n[2, 3]");
  // x does not require grad: no node for it.
  for (const auto& [id, n] : d.nodes) CHECK(n.cls != "input");
}

TEST_CASE("to_dot: a tensor without history is one box", "[dot]") {
  const DotInfo d = parse_dot(io::to_dot(ones({2, 2})));
  REQUIRE(d.nodes.size() == 1);
  CHECK(d.edges.empty());
  CHECK(d.nodes.begin()->second.cls == "tensor");
  CHECK(d.nodes.begin()->second.label == "tensor\n[2, 2]");
  CHECK_THROWS_AS(io::to_dot(Tensor()), ValueError);
}

TEST_CASE("to_dot: a 100,000-op chain gives 100,000 edges without deep recursion", "[dot]") {
  Tensor x = randn({1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y + 1.0;
  const std::string dot = io::to_dot(y);
  std::size_t arrows = 0;
  for (std::size_t at = 0; (at = dot.find(" -> ", at)) != std::string::npos; ++at) ++arrows;
  CHECK(arrows == 100000);
  CHECK(dot.find("op99999 [") != std::string::npos);
}

TEST_CASE("to_dot: Graphviz parses the text and draws the same structure", "[dot][graphviz]") {
  if (!have_dot()) {
    WARN("skipped: Graphviz's dot is not installed");
    return;
  }
  TempDir dir;
  Model m;
  const std::string path = dir.file("model.dot");
  io::write_dot(m.loss, path, m.names);
  CHECK(slurp(path) == io::to_dot(m.loss, m.names));
  const auto [status, canon] = test::run_command("dot -Tcanon '" + path + "'");
  INFO(canon);
  REQUIRE(status == 0);
  CHECK(canon.rfind("digraph", 0) == 0);  // nothing (no warning) before the graph

  const std::string svg = dir.file("model.svg");
  REQUIRE(io::render_svg(path, svg));
  const std::string text = slurp(svg);
  CHECK(text.find("model/fc1/matmul") != std::string::npos);
  CHECK(text.find("model/fc2/mul") != std::string::npos);
  CHECK(text.find("fc1.weight") != std::string::npos);
  CHECK(text.find("[4, 5]") != std::string::npos);
  // Graphviz's own view of the structure: <g class="node ...">, "edge" and "cluster" groups.
  const auto [pystatus, counts] = test::run_command(
      std::string(TAPEFLOW_TEST_PYTHON) +
      " -c 'import sys, xml.dom.minidom as m\n"
      "gs = m.parse(sys.argv[1]).getElementsByTagName(\"g\")\n"
      "kind = lambda k: sum(1 for g in gs if g.getAttribute(\"class\").split()[:1] == [k])\n"
      "params = sum(1 for g in gs if \"parameter\" in g.getAttribute(\"class\").split())\n"
      "print(kind(\"node\"), kind(\"edge\"), kind(\"cluster\"), params)' '" + svg + "'");
  INFO(counts);
  REQUIRE(pystatus == 0);
  CHECK(counts == "12 12 3 4\n");
  CHECK(leftovers(dir, {"model.dot", "model.svg"}).empty());
}

TEST_CASE("to_dot: quotes, backslashes, line breaks and bad UTF-8 in names are escaped", "[dot][graphviz]") {
  Tensor w = randn({2}).requires_grad_();
  Tensor h;
  {
    NameScope odd("a \"quoted\" \\ {scope}\nline");
    h = w * 2.0;
  }
  Tensor y = h.sum();
  const std::string weird = "w\"1\\ \xff end";
  const std::string dot = io::to_dot(y, {{weird, w}});
  const DotInfo d = parse_dot(dot);
  CHECK(d.clusters == 1);
  CHECK(node(d, "w\"1\\ ? end").cls == "parameter");  // the invalid byte became '?'
  CHECK(node(d, "a \"quoted\" \\ {scope}").path == "a \"quoted\" \\ {scope}\nline");
  if (!have_dot()) {
    WARN("skipped the Graphviz half: dot is not installed");
    return;
  }
  TempDir dir;
  const std::string path = dir.file("odd.dot");
  io::write_dot(y, path, {{weird, w}});
  const auto [status, canon] = test::run_command("dot -Tcanon '" + path + "'");
  INFO(canon);
  REQUIRE(status == 0);
  CHECK(canon.rfind("digraph", 0) == 0);
  const std::string svg = dir.file("odd.svg");
  REQUIRE(io::render_svg(path, svg));
  const std::string text = slurp(svg);
  CHECK(text.find("w&quot;1\\ ? end") != std::string::npos);
  CHECK(text.find("a &quot;quoted&quot; \\ {scope}") != std::string::npos);
}

TEST_CASE("write_dot: replaces the file atomically, and names the path when it cannot", "[dot]") {
  TempDir dir;
  Tensor x = randn({2}).requires_grad_();
  Tensor y = exp(x).sum();
  const std::string path = dir.write("g.dot", std::string("old contents"));
  io::write_dot(y, path);
  CHECK(slurp(path) == io::to_dot(y));
  CHECK(leftovers(dir, {"g.dot"}).empty());
  const std::string missing = dir.file("no/such/folder/g.dot");
  try {
    io::write_dot(y, missing);
    FAIL("no IOError");
  } catch (const IOError& e) {
    const std::string msg = e.what();
    CHECK(msg.rfind("write_dot: " + missing + ": ", 0) == 0);
  }
}

TEST_CASE("render_svg: a broken DOT file is an IOError and the old SVG stays", "[dot][graphviz]") {
  if (!have_dot()) {
    WARN("skipped: Graphviz's dot is not installed");
    return;
  }
  TempDir dir;
  const std::string bad = dir.write("bad.dot", std::string("digraph { a -> ; }"));
  const std::string svg = dir.write("bad.svg", std::string("previous picture"));
  try {
    io::render_svg(bad, svg);
    FAIL("no IOError");
  } catch (const IOError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.rfind("render_svg: " + bad + ": dot exited with status ", 0) == 0);
    CHECK(msg.find("syntax error") != std::string::npos);  // Graphviz's own message
  }
  CHECK(slurp(svg) == "previous picture");
  CHECK(leftovers(dir, {"bad.dot", "bad.svg"}).empty());
  CHECK_THROWS_AS(io::render_svg(dir.file("missing.dot"), svg), IOError);
  CHECK(leftovers(dir, {"bad.dot", "bad.svg"}).empty());
}

TEST_CASE("render_svg: paths starting with '-' are not taken for options", "[dot][graphviz]") {
  if (!have_dot()) {
    WARN("skipped: Graphviz's dot is not installed");
    return;
  }
  TempDir dir;
  Tensor y = exp(randn({2}).requires_grad_()).sum();
  io::write_dot(y, dir.file("-g.dot"));
  const std::string here = std::filesystem::current_path().string();
  REQUIRE(::chdir(dir.path().c_str()) == 0);
  bool rendered = false;
  try {
    rendered = io::render_svg("-g.dot", "-Tpng");
  } catch (...) {
    REQUIRE(::chdir(here.c_str()) == 0);
    throw;
  }
  REQUIRE(::chdir(here.c_str()) == 0);
  CHECK(rendered);
  CHECK(slurp(dir.file("-Tpng")).find("<svg") != std::string::npos);
}

TEST_CASE("render_svg: returns false and writes nothing when dot is not on PATH", "[dot]") {
  TempDir dir;
  Tensor y = exp(randn({2}).requires_grad_()).sum();
  const std::string path = dir.file("g.dot");
  io::write_dot(y, path);
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  ::setenv("PATH", dir.path().c_str(), 1);  // a folder with no dot in it
  bool rendered = true;
  try {
    rendered = io::render_svg(path, dir.file("g.svg"));
  } catch (...) {
    ::setenv("PATH", saved.c_str(), 1);
    throw;
  }
  ::setenv("PATH", saved.c_str(), 1);
  CHECK_FALSE(rendered);
  CHECK(leftovers(dir, {"g.dot"}).empty());
  CHECK_THROWS_AS(io::render_svg("", dir.file("g.svg")), IOError);
}

TEST_CASE("render_svg: a dot that runs past the timeout is stopped, and the old SVG stays", "[dot]") {
  TempDir dir;
  Tensor y = exp(randn({2}).requires_grad_()).sum();
  const std::string path = dir.file("g.dot");
  io::write_dot(y, path);
  const std::string svg = dir.write("g.svg", std::string("old picture"));
  // A stand-in for Graphviz on a graph too big to lay out: it never finishes.
  const std::filesystem::path bin = dir.path() / "bin";
  std::filesystem::create_directory(bin);
  dir.write("bin/dot", std::string("#!/bin/sh\nexec sleep 30\n"));
  std::filesystem::permissions(bin / "dot", std::filesystem::perms::owner_all);
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  ::setenv("PATH", (bin.string() + ":" + saved).c_str(), 1);
  const auto t0 = std::chrono::steady_clock::now();
  std::string message;
  try {
    io::render_svg(path, svg, 0.5);
  } catch (const IOError& e) {
    message = e.what();
  }
  ::setenv("PATH", saved.c_str(), 1);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK_THAT(message, Catch::Contains("render_svg: " + path) && Catch::Contains("did not finish within 0.5 s"));
  CHECK(took < 10.0);  // stopped, not waited for (a correctness bound, far above the 0.5 s asked)
  CHECK(slurp(svg) == "old picture");
  CHECK(leftovers(dir, {"bin", "g.dot", "g.svg"}).empty());
  CHECK_THROWS_AS(io::render_svg(path, svg, 0.0), ValueError);
}

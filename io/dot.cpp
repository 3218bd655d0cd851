// SPDX-License-Identifier: MIT
#include "dot.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "../autograd/graph.hpp"
#include "detail/atomic_file.hpp"
#include "detail/file.hpp"
#include "detail/utf8.hpp"

extern char** environ;

namespace tapeflow::io {
namespace {

// Invalid UTF-8 makes Graphviz complain and write a broken SVG; '?' keeps the rest readable.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const std::size_t len = detail::utf8_decode(s, i, cp);
    if (len == 0) {
      out += '?';
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

// A DOT quoted string. Labels are Graphviz "escString"s, where a backslash starts an escape
// (\n, \N, \G...), so a literal backslash must be doubled as well as the quote escaped.
std::string quoted(std::string_view raw) {
  const std::string s = valid_utf8(raw);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) out += ' ';
    else out += c;
  }
  return out + '"';
}

// "[64, 256]", with the dtype only when it is not the default float32.
std::string shape_label(const Shape& shape, DType dtype) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  s += "]";
  if (dtype != DType::Float32) s += std::string(" ") + dtype_name(dtype);
  return s;
}

// The longest common prefix of two scopes that ends at a component boundary ("a/b" for "a/b/c"
// and "a/b/d", "" for "ab" and "ac").
std::string common_scope(const std::string& a, const std::string& b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  if ((n == a.size() || a[n] == '/') && (n == b.size() || b[n] == '/')) return a.substr(0, n);
  const std::size_t slash = n == 0 ? std::string::npos : a.rfind('/', n - 1);
  return slash == std::string::npos ? std::string() : a.substr(0, slash);
}

// The scope tree: clusters[0] is the top level (no subgraph); each other entry is one scope
// component, holding the DOT lines of its nodes.
struct Cluster {
  std::string label;
  std::string path;
  std::vector<std::size_t> children;
  std::vector<std::string> lines;
};

class ScopeTree {
 public:
  ScopeTree() : clusters_(1) {}
  std::vector<std::string>& lines_of(const std::string& scope) { return clusters_[find(scope)].lines; }
  const std::vector<Cluster>& clusters() const { return clusters_; }

 private:
  // Walks down from the top level one component at a time, adding what is missing.
  std::size_t find(const std::string& scope) {
    if (scope.empty()) return 0;
    if (auto it = index_.find(scope); it != index_.end()) return it->second;
    std::size_t at = 0;
    for (std::size_t begin = 0;;) {
      const std::size_t slash = scope.find('/', begin);
      const std::size_t end = slash == std::string::npos ? scope.size() : slash;
      const std::string path = scope.substr(0, end);
      auto [it, added] = index_.emplace(path, clusters_.size());
      if (added) {
        clusters_.push_back(Cluster{scope.substr(begin, end - begin), path, {}, {}});
        clusters_[at].children.push_back(it->second);
      }
      at = it->second;
      if (slash == std::string::npos) return at;
      begin = slash + 1;
    }
  }

  std::vector<Cluster> clusters_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace

std::string to_dot(const Tensor& output, const std::vector<std::pair<std::string, Tensor>>& names) {
  const Graph g = recorded_graph(output);
  std::unordered_map<const void*, const std::string*> name_of;
  for (const auto& [name, t] : names)
    if (t.defined()) name_of.emplace(graph_id(t), &name);  // the first name of a shared tensor wins

  // A parameter sits in the deepest scope shared by the ops that read it (fc1's weight inside
  // fc1), as TensorBoard draws variables; unnamed inputs stay at the top level.
  std::vector<std::string> leaf_scope(g.leaves.size());
  std::vector<bool> leaf_seen(g.leaves.size(), false);
  for (const GraphOp& op : g.ops)
    for (const GraphInput& in : op.inputs) {
      if (in.kind != GraphInput::Kind::Leaf) continue;
      leaf_scope[in.index] = leaf_seen[in.index] ? common_scope(leaf_scope[in.index], op.scope) : op.scope;
      leaf_seen[in.index] = true;
    }

  ScopeTree tree;
  for (std::size_t i = 0; i < g.leaves.size(); ++i) {
    const GraphLeaf& leaf = g.leaves[i];
    const auto named = name_of.find(leaf.id);
    const bool is_param = named != name_of.end();
    const char* kind = is_param ? "parameter" : leaf.requires_grad ? "input" : "tensor";
    const std::string title = is_param ? *named->second : kind;
    const std::string shape = shape_label(leaf.shape, leaf.dtype);
    const std::string tooltip = std::string(is_param ? "parameter " : "") + title + " " + shape;
    tree.lines_of(is_param ? leaf_scope[i] : std::string())
        .push_back("leaf" + std::to_string(i) + " [shape=box, style=filled, fillcolor=\"" +
                   (is_param ? "#d9ead3" : "#cfe2f3") + "\", class=" + kind + ", label=" +
                   quoted(title + "\n" + shape) + ", tooltip=" + quoted(tooltip) + "];");
  }
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    const GraphOp& op = g.ops[i];
    const std::string full = op.full_name();
    const std::string shape = shape_label(op.shape, op.dtype);
    const bool is_output = static_cast<std::ptrdiff_t>(i) == g.output;
    tree.lines_of(op.scope).push_back(
        "op" + std::to_string(i) + " [class=" + (is_output ? "\"op output\"" : "op") + ", label=" +
        quoted(is_output ? full + "\n" + shape : full) + ", tooltip=" + quoted(full + " " + shape) +
        (is_output ? ", peripheries=2" : "") + "];");
  }

  std::string dot =
      "digraph tapeflow {\n"
      "  graph [fontname=\"Helvetica\", fontsize=11];\n"
      "  node [fontname=\"Helvetica\", fontsize=10];\n"
      "  edge [fontname=\"Helvetica\", fontsize=9, fontcolor=\"#555555\"];\n";
  // The scope tree, depth first with an explicit stack: scopes nest as clusters do.
  const std::vector<Cluster>& clusters = tree.clusters();
  std::vector<std::pair<std::size_t, std::size_t>> stack{{0, 0}};  // (cluster, next child)
  for (const std::string& line : clusters[0].lines) dot += "  " + line + "\n";
  while (!stack.empty()) {
    auto& [c, next] = stack.back();
    if (next == clusters[c].children.size()) {
      stack.pop_back();
      if (!stack.empty()) dot += std::string(2 * stack.size(), ' ') + "}\n";
      continue;
    }
    const std::size_t child = clusters[c].children[next++];
    const std::string indent(2 * (stack.size() + 1), ' ');
    dot += std::string(2 * stack.size(), ' ') + "subgraph cluster_" + std::to_string(child) + " {\n";
    dot += indent + "graph [label=" + quoted(clusters[child].label) + ", tooltip=" +
           quoted(clusters[child].path) + ", style=rounded, color=\"#888888\"];\n";
    for (const std::string& line : clusters[child].lines) dot += indent + line + "\n";
    stack.emplace_back(child, 0);
  }
  for (std::size_t i = 0; i < g.ops.size(); ++i)
    for (const GraphInput& in : g.ops[i].inputs) {
      const bool from_op = in.kind == GraphInput::Kind::Op;
      const std::string label = from_op ? shape_label(g.ops[in.index].shape, g.ops[in.index].dtype)
                                        : shape_label(g.leaves[in.index].shape, g.leaves[in.index].dtype);
      dot += "  " + std::string(from_op ? "op" : "leaf") + std::to_string(in.index) + " -> op" +
             std::to_string(i) + " [label=" + quoted(label) + "];\n";
    }
  return dot + "}\n";
}

void write_dot(const Tensor& output, const std::string& path,
               const std::vector<std::pair<std::string, Tensor>>& names) {
  detail::write_file_atomic("write_dot", path, to_dot(output, names));
}

namespace {

std::string reason(int err) { return err ? std::strerror(err) : "unknown error"; }

// Paths reach dot as arguments; one starting with '-' would read as an option.
std::string as_argument(const std::string& path) { return path[0] == '-' ? "./" + path : path; }

// dot's messages, for the error: at most a few lines' worth.
std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text)
    if (c == '\n') c = ' ';
  return text.size() > 500 ? text.substr(0, 500) + "..." : text;
}

// Owns the spawn's file descriptors and temporary output until it is done with them.
struct SpawnResources {
  int pipe_read = -1, pipe_write = -1;
  std::string temp;  // removed unless released
  ~SpawnResources() {
    if (pipe_read >= 0) ::close(pipe_read);
    if (pipe_write >= 0) ::close(pipe_write);
    if (!temp.empty()) ::unlink(temp.c_str());
  }
};

}  // namespace

bool render_svg(const std::string& dot_path, const std::string& svg_path, double timeout_seconds) {
  const char* op = "render_svg";
  if (dot_path.empty()) detail::io_fail(op, dot_path, "empty file name");
  if (svg_path.empty()) detail::io_fail(op, svg_path, "empty file name");
  if (!(timeout_seconds > 0)) throw ValueError("render_svg: timeout_seconds must be positive");
  static std::atomic<unsigned> counter{0};
  SpawnResources res;
  const std::string temp = svg_path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) detail::io_fail(op, dot_path, "cannot create a pipe: " + reason(errno));
  res.pipe_read = fds[0];
  res.pipe_write = fds[1];
  // dot's stdout and stderr both come back through the pipe (dup2 clears close-on-exec on the
  // copies); stdin is /dev/null so that dot never waits on the caller's terminal.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, res.pipe_write, 1);
  posix_spawn_file_actions_adddup2(&actions, res.pipe_write, 2);
  std::string args[] = {"dot", "-Tsvg", as_argument(dot_path), "-o", as_argument(temp)};
  char* argv[] = {args[0].data(), args[1].data(), args[2].data(), args[3].data(), args[4].data(), nullptr};
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, "dot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(res.pipe_write);
  res.pipe_write = -1;
  if (spawned == ENOENT) return false;
  if (spawned != 0) detail::io_fail(op, dot_path, "cannot run dot: " + reason(spawned));
  res.temp = temp;

  // dot's layout time grows much faster than the graph: a training program must not hang on a
  // picture, so past the deadline dot is killed and the caller gets an error it can ignore.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  std::string messages;
  char chunk[4096];
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd readable{res.pipe_read, POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&readable, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30))) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    const ssize_t got = ::read(res.pipe_read, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (messages.size() < 64 * 1024) messages.append(chunk, static_cast<std::size_t>(got));
  }
  int status = 0;
  pid_t waited;
  do waited = ::waitpid(pid, &status, 0);
  while (waited < 0 && errno == EINTR);
  if (waited < 0) detail::io_fail(op, dot_path, "cannot get the exit status of dot: " + reason(errno));
  if (timed_out) {
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", timeout_seconds);
    detail::io_fail(op, dot_path, std::string("dot did not finish within ") + limit +
                                      " s and was stopped (large graphs lay out slowly: view the DOT file "
                                      "with xdot, or pass a longer timeout)");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status) ? "dot exited with status " + std::to_string(WEXITSTATUS(status))
                                              : "dot was killed by signal " + std::to_string(WTERMSIG(status));
    const std::string said = trimmed(messages);
    detail::io_fail(op, dot_path, how + (said.empty() ? "" : ": " + said));
  }

  // As AtomicFile does: the SVG is on disk before it replaces the old one.
  const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) detail::io_fail(op, dot_path, "dot wrote no SVG: " + reason(errno));
  const bool synced = ::fsync(fd) == 0;
  const int sync_error = errno;
  ::close(fd);
  if (!synced) detail::io_fail(op, svg_path, "fsync failed: " + reason(sync_error));
  if (::rename(temp.c_str(), svg_path.c_str()) != 0)
    detail::io_fail(op, svg_path, "cannot replace the file: " + reason(errno));
  res.temp.clear();
  return true;
}

}  // namespace tapeflow::io

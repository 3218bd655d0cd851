// SPDX-License-Identifier: MIT
#include "tape.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <unordered_map>
#include <vector>

#include "../tensor/detail/check.hpp"
#include "../tensor/detail/kernels.hpp"
#include "detail/node.hpp"

namespace tapeflow {
namespace detail {

namespace {
std::atomic<std::size_t> g_live_nodes{0};
}

TapeState& tape_state() {
  thread_local TapeState state;
  return state;
}

std::string scoped(const char* op) {
  const auto& scope = tape_state().scope;
  return scope ? *scope + "/" + op : std::string(op);
}

Node::Node(const char* n, BackwardFn b) : name(n), backward(b), ctx(this) { ++g_live_nodes; }

Node::~Node() {
  // Tear long chains down iteratively: a node whose last owner is this one is queued rather
  // than destroyed here, so dropping a 10^6-op chain does not recurse 10^6 frames deep.
  thread_local bool draining = false;
  thread_local std::vector<std::shared_ptr<Node>> pending;
  // A saved input holds its producer too (through its grad_fn): let go of it first, or the edge
  // below would not be the last owner and `y = y * c` chains would be torn down recursively.
  ctx.saved_.clear();
  for (std::size_t i = 0; i < edges.size(); ++i)
    if (edges[i].fn && edges[i].fn.use_count() == 1) pending.push_back(std::move(edges[i].fn));
  --g_live_nodes;
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> next = std::move(pending.back());
    pending.pop_back();
    next.reset();
  }
  draining = false;
}

std::string Node::display_name() const { return scope ? *scope + "/" + name : std::string(name); }

void Ctx::save(const Tensor& t) {
  if (!node_) return;
  saved_.push_back(SavedTensor{t, t.impl()->storage->version, false});
}

void Ctx::save_output(const Tensor& t) {
  if (!node_) return;
  // Keep the data, not the link to this node (that would be a cycle); saved() re-links it.
  Tensor data = make_view(t, t.shape(), t.strides(), t.offset());
  saved_.push_back(SavedTensor{std::move(data), t.impl()->storage->version, true});
}

Tensor Ctx::saved(std::size_t i) const {
  const SavedTensor& s = saved_[i];
  const uint32_t now = s.data.impl()->storage->version;
  if (now != s.version)
    throw AutogradError(node_->display_name() + ": a tensor saved for backward (of shape " +
                        shape_str(s.data.shape()) + ") was modified in place after it was saved " +
                        "(version " + std::to_string(s.version) + ", now " + std::to_string(now) +
                        "); clone it before modifying, or modify it out of place");
  if (!s.is_output) return s.data;
  Tensor relinked = make_view(s.data, s.data.shape(), s.data.strides(), s.data.offset());
  // Only while create_graph records the backward pass does the link matter.
  if (tape_state().grad_enabled) {
    relinked.impl()->requires_grad = true;
    relinked.impl()->grad_fn = node_->shared_from_this();
  }
  return relinked;
}

bool Ctx::needs_grad(std::size_t i) const {
  if (!node_ || i >= node_->edges.size()) return false;
  const Edge& e = node_->edges[i];
  return e.fn || e.leaf;
}

std::shared_ptr<Node> new_node(const char* name, BackwardFn backward) {
  auto node = std::make_shared<Node>(name, backward);
  // One counter for all threads: a tensor recorded on one thread may be consumed on another,
  // and backward's order (decreasing sequence) must then still put consumers first.
  static std::atomic<uint64_t> sequence{0};
  TapeState& st = tape_state();
  node->sequence = sequence.fetch_add(1, std::memory_order_relaxed) + 1;
  node->scope = st.scope;
  return node;
}

namespace {
Edge edge_to(const Tensor& t) {
  TensorImpl& i = *t.impl();
  if (i.grad_fn) return Edge{i.grad_fn, nullptr};
  if (i.requires_grad) return Edge{nullptr, t.impl_ptr()};
  return Edge{};
}

void link_output(const std::shared_ptr<Node>& node, const Tensor& y) {
  TensorImpl& yi = *y.impl();
  yi.grad_fn = node;
  yi.requires_grad = true;
  node->output_shape = yi.shape;
  node->output_dtype = yi.dtype;
}
}  // namespace

void attach(const std::shared_ptr<Node>& node, const Tensor& y, std::initializer_list<const Tensor*> inputs) {
  for (const Tensor* t : inputs) {
    if (t->impl() == y.impl()) throw InternalError(std::string(node->name) + ": forward returned its input");
    node->edges.push_back(edge_to(*t));
  }
  link_output(node, y);
}

void attach_all(const std::shared_ptr<Node>& node, const Tensor& y, const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs) node->edges.push_back(edge_to(t));
  link_output(node, y);
}

namespace {

bool all_finite(const Tensor& g) {
  if (!is_floating(g.dtype())) return true;
  for (double v : g.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

// The leaf's first gradient is stored only if nothing else can see (and later mutate) it.
Tensor owned_gradient(const Tensor& g, bool create_graph) {
  const TensorImpl& gi = *g.impl();
  if (create_graph) return g;
  if (gi.storage.use_count() == 1 && g.is_contiguous() && gi.offset == 0 &&
      gi.storage->nbytes == static_cast<std::size_t>(gi.numel) * element_size(gi.dtype))
    return g.detach();
  return kernel::cast(g, g.dtype());
}

void accumulate(Tensor& slot, const Tensor& g) { slot = slot.defined() ? slot + g : g; }

struct EngineRequest {
  const std::vector<Tensor>* outputs;
  const std::vector<Tensor>* grad_outputs;
  const std::vector<Tensor>* inputs;  // null: accumulate into leaves' .grad()
  bool retain_graph;
  bool create_graph;
  bool allow_unused;
  const char* api;
};

std::vector<Tensor> run_backward(const EngineRequest& rq) {
  TapeState& st = tape_state();
  const auto& outputs = *rq.outputs;
  if (!rq.grad_outputs->empty())
    TAPEFLOW_CHECK(rq.grad_outputs->size() == outputs.size(), ValueError, rq.api, "got ",
                   rq.grad_outputs->size(), " gradients for ", outputs.size(), " outputs");

  // Seeds.
  std::vector<Tensor> seeds(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& y = outputs[i];
    TAPEFLOW_CHECK(y.defined(), ValueError, rq.api, "output ", i, " is an undefined tensor");
    TAPEFLOW_CHECK(y.requires_grad(), AutogradError, rq.api, "output ", i, " (shape ", y.shape(),
                   ") does not require grad and has no recorded history; call requires_grad_() on "
                   "a leaf it depends on before computing it");
    if (!rq.grad_outputs->empty() && (*rq.grad_outputs)[i].defined()) {
      const Tensor& s = (*rq.grad_outputs)[i];
      TAPEFLOW_CHECK(s.shape() == y.shape(), ShapeError, rq.api, "gradient of shape ", s.shape(),
                     " given for an output of shape ", y.shape());
      seeds[i] = s;
    } else {
      TAPEFLOW_CHECK(y.numel() == 1, AutogradError, rq.api,
                     "a gradient can be implied only for a one-element output, got shape ", y.shape(),
                     "; pass the gradient explicitly");
      seeds[i] = ones_like(y);
    }
  }

  // Collect every entry the outputs depend on, iteratively (no recursion depth limit).
  // Process-wide, like the sequence: nodes recorded on one thread may be replayed on another.
  static std::atomic<uint64_t> epochs{0};
  const uint64_t epoch = epochs.fetch_add(1, std::memory_order_relaxed) + 1;
  std::vector<Node*> order;
  std::vector<Node*> stack;
  for (const Tensor& y : outputs)
    if (y.impl()->grad_fn) stack.push_back(y.impl()->grad_fn.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (n->visit_epoch == epoch) continue;
    n->visit_epoch = epoch;
    order.push_back(n);
    for (std::size_t i = 0; i < n->edges.size(); ++i)
      if (n->edges[i].fn && n->edges[i].fn->visit_epoch != epoch) stack.push_back(n->edges[i].fn.get());
  }
  // Reverse recording order is a topological order: an entry is recorded after its inputs'.
  std::sort(order.begin(), order.end(), [](Node* a, Node* b) { return a->sequence > b->sequence; });

  std::vector<Tensor> results(rq.inputs ? rq.inputs->size() : 0);
  std::vector<TensorImpl*> leaf_inputs(results.size(), nullptr);
  std::vector<bool> reached(results.size(), false);
  struct Cleanup {  // scratch state must not survive an exception
    std::vector<Node*>& order;
    const std::vector<Tensor>* inputs;
    ~Cleanup() {
      for (Node* n : order) n->grad_buffer = Tensor(), n->capture = -1;
      // NOTE: an input's node is not in `order` when the outputs do not depend on it; a mark
      // left there would send a later backward's gradient to a result slot that is not there.
      if (inputs)
        for (const Tensor& x : *inputs)
          if (x.defined() && x.impl()->grad_fn) x.impl()->grad_fn->capture = -1;
    }
  } cleanup{order, rq.inputs};
  if (rq.inputs) {
    for (std::size_t i = 0; i < rq.inputs->size(); ++i) {
      const Tensor& x = (*rq.inputs)[i];
      TAPEFLOW_CHECK(x.defined() && x.requires_grad(), AutogradError, rq.api, "input ", i,
                     " does not require grad, so no gradient flows to it");
      if (x.impl()->grad_fn) x.impl()->grad_fn->capture = static_cast<int>(i);
      else leaf_inputs[i] = x.impl();
    }
  }

  // Gradients for .grad() are summed aside and stored only once the whole pass has succeeded:
  // a backward that throws part way (AnomalyGuard, a tensor modified in place, a custom
  // backward) leaves every .grad() as it was, instead of some leaves already updated.
  std::vector<std::pair<std::shared_ptr<TensorImpl>, Tensor>> pending;
  std::unordered_map<const TensorImpl*, std::size_t> pending_index;
  auto deliver_to_leaf = [&](const std::shared_ptr<TensorImpl>& leaf, const Tensor& g) {
    if (rq.inputs) {
      for (std::size_t i = 0; i < leaf_inputs.size(); ++i)
        if (leaf_inputs[i] == leaf.get()) accumulate(results[i], g), reached[i] = true;
      return;
    }
    auto [it, fresh] = pending_index.emplace(leaf.get(), pending.size());
    if (fresh) pending.emplace_back(leaf, g);
    else accumulate(pending[it->second].second, g);
  };

  std::optional<NoGradGuard> off;
  std::optional<EnableGradGuard> on;
  if (rq.create_graph) on.emplace();
  else off.emplace();

  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const TensorImpl& yi = *outputs[i].impl();
    if (yi.grad_fn) accumulate(yi.grad_fn->grad_buffer, seeds[i]);
    else deliver_to_leaf(outputs[i].impl_ptr(), seeds[i]);
  }

  for (Node* n : order) {
    if (!n->grad_buffer.defined()) continue;
    Tensor g = std::move(n->grad_buffer);
    n->grad_buffer = Tensor();
    if (n->capture >= 0) {
      accumulate(results[n->capture], g);
      reached[n->capture] = true;
    }
    if (n->released)
      throw AutogradError(n->display_name() + ": trying to backward through the graph a second "
                          "time; its saved tensors were freed by the first backward. Pass "
                          "retain_graph=true to the first backward (or grad) call");
    Grads grads = n->backward ? n->backward(n->ctx, g) : n->custom_backward(*n, g);
    for (std::size_t i = 0; i < n->edges.size(); ++i) {
      if (i >= grads.size() || !grads[i].defined()) continue;
      const Edge& e = n->edges[i];
      if (!e.fn && !e.leaf) continue;
      if (st.anomaly && !all_finite(grads[i]))
        throw AutogradError("AnomalyGuard: backward of " + n->display_name() +
                            " produced NaN or Inf in the gradient of its input " + std::to_string(i));
      if (e.fn) accumulate(e.fn->grad_buffer, grads[i]);
      else deliver_to_leaf(e.leaf, grads[i]);
    }
    if (!rq.retain_graph) {
      n->released = true;
      n->ctx.saved_.clear();
    }
  }

  if (rq.inputs)
    for (std::size_t i = 0; i < results.size(); ++i)
      TAPEFLOW_CHECK(reached[i] || rq.allow_unused, AutogradError, rq.api, "input ", i, " (shape ",
                     (*rq.inputs)[i].shape(), ") was not used to compute the outputs; pass "
                     "allow_unused=true to get an undefined gradient instead");
  for (auto& [leaf, sum] : pending) {
    Tensor g = std::move(sum);  // owned_gradient may keep g's storage only if nothing else holds it
    Tensor& slot = leaf->grad;
    slot = slot.defined() ? slot + g : owned_gradient(g, rq.create_graph);
  }
  return results;
}

}  // namespace
}  // namespace detail

using detail::tape_state;

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& options) {
  detail::EngineRequest rq{&outputs, &options.grad_outputs, &inputs,
                           options.retain_graph.value_or(options.create_graph),
                           options.create_graph, options.allow_unused, "grad"};
  return detail::run_backward(rq);
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              std::optional<bool> retain_graph, bool create_graph) {
  detail::EngineRequest rq{&outputs, &grad_outputs, nullptr, retain_graph.value_or(create_graph),
                           create_graph, false, "backward"};
  detail::run_backward(rq);
}

bool is_grad_enabled() { return tape_state().grad_enabled; }
void set_grad_enabled(bool enabled) { tape_state().grad_enabled = enabled; }

NoGradGuard::NoGradGuard() : previous_(tape_state().grad_enabled) { tape_state().grad_enabled = false; }
NoGradGuard::~NoGradGuard() { tape_state().grad_enabled = previous_; }
EnableGradGuard::EnableGradGuard() : previous_(tape_state().grad_enabled) { tape_state().grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { tape_state().grad_enabled = previous_; }

NameScope::NameScope(const std::string& name) : previous_(tape_state().scope) {
  tape_state().scope = std::make_shared<const std::string>(previous_ ? *previous_ + "/" + name : name);
}
NameScope::~NameScope() { tape_state().scope = previous_; }
std::string NameScope::current() {
  const auto& s = tape_state().scope;
  return s ? *s : std::string();
}

AnomalyGuard::AnomalyGuard() : previous_(tape_state().anomaly) { tape_state().anomaly = true; }
AnomalyGuard::~AnomalyGuard() { tape_state().anomaly = previous_; }
bool is_anomaly_enabled() { return tape_state().anomaly; }

GradientTape::GradientTape(bool persistent)
    : persistent_(persistent), depth_(static_cast<std::size_t>(++tape_state().open_tapes)) {}

GradientTape::~GradientTape() {
  for (Tensor& t : watched_) t.impl()->requires_grad = false;
  --tape_state().open_tapes;
}

void GradientTape::watch(const Tensor& t) {
  TAPEFLOW_CHECK(t.defined(), ValueError, "GradientTape.watch", "undefined tensor");
  if (t.requires_grad()) return;
  TAPEFLOW_CHECK(is_floating(t.dtype()), DTypeError, "GradientTape.watch",
                 "only floating tensors can be watched, got ", t.dtype());
  t.impl()->requires_grad = true;
  watched_.push_back(t);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Tensor>& sources) {
  TAPEFLOW_CHECK(persistent_ || !used_, AutogradError, "GradientTape.gradient",
                 "a non-persistent tape can compute gradients only once; construct it with "
                 "GradientTape(true) to call gradient() several times");
  used_ = true;
  // An enclosing tape that is still open will want to differentiate these gradients.
  const bool outer_open = depth_ > 1;
  GradOptions o;
  o.create_graph = outer_open;
  o.retain_graph = persistent_ || outer_open;
  o.allow_unused = true;
  return grad({target}, sources, o);
}

Tensor GradientTape::gradient(const Tensor& target, const Tensor& source) {
  return gradient(target, std::vector<Tensor>{source})[0];
}

std::size_t live_tape_entries() { return detail::g_live_nodes.load(); }

}  // namespace tapeflow

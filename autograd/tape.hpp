// SPDX-License-Identifier: MIT
// The gradient tape: every thread records the ops whose inputs require grad while grad mode is
// on; backward() replays, newest first, only what the loss depends on.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../tensor/tensor.hpp"

namespace tapeflow {

/// Options of grad(): `grad({y}, {w}, {.create_graph = true})`.
struct GradOptions {
  /// Keep the recorded graph for another backward; defaults to create_graph.
  std::optional<bool> retain_graph = std::nullopt;
  /// Record the backward pass too, so the result can be differentiated again.
  bool create_graph = false;
  /// Return an undefined tensor for an input the outputs do not depend on (else AutogradError).
  bool allow_unused = false;
  /// Seeds for each output; may be omitted for one-element outputs (seed 1).
  std::vector<Tensor> grad_outputs = {};
};

/// Gradients of sum(outputs) w.r.t. each input, without touching any .grad().
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& options = {});
/// Back-propagates from outputs and accumulates into .grad() of the leaves that require grad.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false);

/// Whether ops are being recorded on this thread.
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

/// Turns recording off for its scope (restores the previous mode after).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// Turns recording on for its scope, even inside a NoGradGuard.
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

/// Prefixes the names of ops recorded in its scope: NameScope s("layer1") gives "layer1/matmul".
class NameScope {
 public:
  explicit NameScope(const std::string& name);
  ~NameScope();
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;
  /// The full current scope ("" outside any), e.g. "model/layer1".
  static std::string current();

 private:
  std::shared_ptr<const std::string> previous_;
};

/// Anomaly mode: backward checks every op's gradients for NaN/Inf and throws AutogradError naming
/// the op and its name scope.
class AnomalyGuard {
 public:
  AnomalyGuard();
  ~AnomalyGuard();
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool previous_;
};
bool is_anomaly_enabled();

/// TensorFlow's GradientTape: `GradientTape tape; auto y = f(x); tape.gradient(y, {x});`.
/// Sources must require grad, or be watched. Nested tapes give higher derivatives: a tape's
/// gradient() records its own backward pass when an outer tape is still open.
class GradientTape {
 public:
  /// A persistent tape allows several gradient() calls; otherwise only one.
  explicit GradientTape(bool persistent = false);
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  /// Makes a leaf require grad for this tape's lifetime (restored when the tape ends).
  void watch(const Tensor& t);
  /// d target / d source for each source; undefined where target does not depend on it.
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Tensor>& sources);
  Tensor gradient(const Tensor& target, const Tensor& source);

 private:
  bool persistent_;
  bool used_ = false;
  std::size_t depth_;
  std::vector<Tensor> watched_;
};

/// Number of tape entries alive in this process (for memory checks in tests and REPLs).
std::size_t live_tape_entries();

}  // namespace tapeflow

// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../tensor/state_dict.hpp"
#include "../tensor/tensor.hpp"

namespace tapeflow::optim {

/// Parameters that share one set of options (LibTorch's param groups). A group without options
/// takes the optimizer's defaults; a group with options uses exactly those (unset members keep
/// their struct defaults, not the optimizer's): `Adam({{encoder}, {head, {.lr = 1e-4}}})`.
template <typename Options>
struct ParamGroup {
  /// A group that takes the optimizer's default options.
  ParamGroup(std::vector<Tensor> p) : params(std::move(p)) {}  // NOLINT: implicit on purpose
  ParamGroup(std::vector<Tensor> p, Options o) : params(std::move(p)), options(std::move(o)) {}

  std::vector<Tensor> params;
  std::optional<Options> options = std::nullopt;
};

/// One (gradient, parameter) pair, TensorFlow's order: what compute_gradients() returns and
/// apply_gradients() takes.
using GradAndParam = std::pair<Tensor, Tensor>;

/// Base of every optimizer. It holds the parameter groups (parameters are numbered 0, 1, ...
/// across the groups, in order), each group's learning rate and each parameter's state.
/// step() updates the parameters from their .grad() in place without recording on the tape.
class Optimizer {
 public:
  /// One group; kept for subclasses written against the first API. Throws ValueError for a
  /// parameter that is not a leaf requiring grad, or a negative learning rate.
  Optimizer(std::vector<Tensor> parameters, double lr);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update from the current gradients; parameters without a gradient are left alone.
  virtual void step() = 0;
  /// Clears every parameter's gradient (sets it undefined, so the next backward starts fresh).
  void zero_grad();

  /// The name errors use ("Adam", "SGD", ...).
  const std::string& name() const { return name_; }
  /// PyTorch's optimizer repr: the name, then each group's options one per line, e.g.
  /// "SGD (\nParameter Group 0\n    lr: 0.1\n    momentum: 0.9\n    ...\n)".
  std::string str() const;
  /// Learning rate of group 0.
  double lr() const { return lr(0); }
  /// Learning rate of `group`; throws ValueError for a group that does not exist.
  double lr(std::size_t group) const;
  /// Sets every group's learning rate; throws ValueError when negative or not finite.
  void set_lr(double lr);
  void set_lr(std::size_t group, double lr);
  std::size_t num_param_groups() const { return lrs_.size(); }
  /// Every parameter, group after group (the numbering state_dict() uses).
  const std::vector<Tensor>& parameters() const { return parameters_; }
  /// The parameters of one group.
  std::vector<Tensor> parameters(std::size_t group) const;

  /// Optimizer state as flat names: `state.<param>.<buffer>` (a tensor shaped like the
  /// parameter, or a 0-d Float64 `step`), `param_groups.<g>.lr` (0-d Float64) and
  /// `param_groups.<g>.params` (Int64 parameter numbers). The tensors are copies.
  StateDict state_dict() const;
  /// Restores what state_dict() saved from an optimizer of the same kind over parameters of
  /// the same shapes and grouping; training then continues bit-identically. Throws ValueError
  /// naming the key for a missing, unknown or mis-shaped entry, and then changes nothing.
  void load_state_dict(const StateDict& state);

  /// TensorFlow's minimize: zero_grad(), loss = loss_fn(), loss.backward(), step(); returns the
  /// loss. `opt.minimize([&] { return mse_loss(model(x), y); });`
  template <typename LossFn>
  Tensor minimize(LossFn&& loss_fn) {
    zero_grad();
    Tensor loss = std::forward<LossFn>(loss_fn)();
    backward_and_step(loss);
    return loss;
  }
  /// (d loss / d p, p) for each p of `params` (default: every parameter), through grad(); the
  /// gradient is undefined where the loss does not depend on p. .grad() is not touched.
  std::vector<GradAndParam> compute_gradients(const Tensor& loss,
                                              const std::vector<Tensor>& params = {}) const;
  /// One step() over the given parameters only, each with the given gradient (undefined
  /// gradients are skipped); every .grad() is left as it was. Throws ValueError for a tensor
  /// that is not a parameter of this optimizer, or listed twice, and ShapeError for a gradient
  /// shaped unlike its parameter.
  void apply_gradients(const std::vector<GradAndParam>& grads_and_params);

 protected:
  /// An optimizer without groups yet: the constructor then calls add_param_groups().
  explicit Optimizer(std::string name);

  /// Adds each group (options default to `defaults`), checks its options with `check(options)`
  /// and returns every group's options, for the subclass to keep. Options need a `.lr` member.
  template <typename Options, typename Check>
  std::vector<Options> add_param_groups(std::vector<ParamGroup<Options>> groups,
                                        const Options& defaults, Check check) {
    if (groups.empty()) throw_no_groups();
    std::vector<Options> options;
    options.reserve(groups.size());
    for (ParamGroup<Options>& g : groups) {
      Options o = g.options ? *g.options : defaults;
      check(o);
      add_param_group(std::move(g.params), o.lr);
      options.push_back(std::move(o));
    }
    if (parameters_.empty()) throw_no_groups();  // groups may be empty, but not all of them
    return options;
  }
  /// Appends a group; throws ValueError for a bad parameter (also one already in a group).
  void add_param_group(std::vector<Tensor> params, double lr);

  /// The options of `group` for str(), as (name, value) text in the options struct's order.
  /// The default gives the learning rate alone.
  virtual std::vector<std::pair<std::string, std::string>> describe_group(std::size_t group) const;
  /// Option values as str() spells them: shortest round-trip decimals ("0.1", "0.0001", "1e-08"),
  /// "true"/"false", and pairs as "(0.9, 0.999)".
  static std::string option_text(double value);
  static std::string option_text(bool value);
  static std::string option_text(const std::pair<double, double>& value);
  /// Names of the state a parameter of `group` holds once stepped ("step", "exp_avg", ...):
  /// load_state_dict() accepts exactly these. Stateless optimizers keep the default (none).
  virtual std::vector<std::string> state_names(std::size_t group) const;
  /// The state of parameter `index` by name: empty until its first step, filled by step().
  StateDict& state(std::size_t index) { return state_[index]; }
  /// Counts one more step of parameter `index` in its `step` state (a 0-d Float64, created on
  /// first use, also after a load_state_dict that had none for it) and returns the new count.
  double advance_step(std::size_t index);
  /// Parameters of `group` are parameters_[group_begin(group) .. group_end(group)).
  std::size_t group_begin(std::size_t group) const { return group_begin_[group]; }
  std::size_t group_end(std::size_t group) const { return group_begin_[group + 1]; }
  /// The group holding parameter `index`.
  std::size_t group_of(std::size_t index) const;

  std::vector<Tensor> parameters_;

 private:
  void backward_and_step(const Tensor& loss);
  [[noreturn]] void throw_no_groups() const;
  void check_group(std::size_t group) const;

  std::string name_;
  std::vector<std::size_t> group_begin_{0};
  std::vector<double> lrs_;
  std::vector<StateDict> state_;
};

/// Prints str().
std::ostream& operator<<(std::ostream& os, const Optimizer& optimizer);

}  // namespace tapeflow::optim

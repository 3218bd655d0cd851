// SPDX-License-Identifier: MIT
#include "optimizer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <ostream>
#include <set>

#include "../autograd/tape.hpp"
#include "detail/check.hpp"

namespace tapeflow::optim {

namespace {

/// Splits "<prefix><index>.<field>" into index and field; false when `key` has another form.
bool split_key(const std::string& key, const std::string& prefix, std::size_t& index, std::string& field) {
  if (key.compare(0, prefix.size(), prefix) != 0) return false;
  std::size_t pos = prefix.size();
  const std::size_t dot = key.find('.', pos);
  if (dot == std::string::npos || dot == pos || dot - pos > 9 || dot + 1 == key.size()) return false;
  index = 0;
  for (; pos < dot; ++pos) {
    if (key[pos] < '0' || key[pos] > '9') return false;
    index = index * 10 + static_cast<std::size_t>(key[pos] - '0');
  }
  field = key.substr(dot + 1);
  return true;
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> parameters, double lr) : name_("optimizer") {
  add_param_group(std::move(parameters), lr);
  if (parameters_.empty()) throw_no_groups();
}

Optimizer::Optimizer(std::string name) : name_(std::move(name)) {}

Optimizer::~Optimizer() = default;

void Optimizer::add_param_group(std::vector<Tensor> params, double lr) {
  detail::check_lr(name_, lr);
  std::set<const void*> seen;
  for (const Tensor& p : parameters_) seen.insert(p.impl());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const std::size_t n = parameters_.size() + i;
    TAPEFLOW_CHECK(p.defined() && p.requires_grad() && p.is_leaf(), ValueError, name_.c_str(), "parameter ", n,
                   " (group ", lrs_.size(), ") must be a defined leaf tensor that requires grad");
    TAPEFLOW_CHECK(seen.insert(p.impl()).second, ValueError, name_.c_str(), "parameter ", n, " (group ",
                   lrs_.size(), ") appears more than once in the parameter groups");
  }
  for (Tensor& p : params) parameters_.push_back(std::move(p));
  state_.resize(parameters_.size());
  group_begin_.push_back(parameters_.size());
  lrs_.push_back(lr);
}

void Optimizer::throw_no_groups() const {
  // An optimizer over nothing is almost always a model whose parameters() was called too early.
  TAPEFLOW_CHECK(false, ValueError, name_.c_str(), "needs at least one parameter group holding at least one "
                 "parameter; got an empty parameter list");
  throw InternalError("unreachable");
}

void Optimizer::check_group(std::size_t group) const {
  TAPEFLOW_CHECK(group < lrs_.size(), ValueError, name_.c_str(), "parameter group ", group,
                 " does not exist (the optimizer has ", lrs_.size(), ")");
}

double Optimizer::advance_step(std::size_t index) {
  Tensor& counter = state(index)["step"];
  if (!counter.defined()) counter = scalar_tensor(0.0, {.dtype = Float64});
  const double t = counter.item_double() + 1.0;
  counter.fill_(t);
  return t;
}

std::string Optimizer::option_text(double value) {
  char buf[32];
  // Shortest round-trip digits in %g's layout, as Python's repr: 0.0001 and 1e-08, not 1e-04.
  const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
  return std::string(buf, res.ptr);
}

std::string Optimizer::option_text(bool value) { return value ? "true" : "false"; }

// Appended piece by piece: `"(" + ...` trips GCC 12's bogus -Wrestrict.
std::string Optimizer::option_text(const std::pair<double, double>& value) {
  std::string s = "(";
  s += option_text(value.first);
  s += ", ";
  s += option_text(value.second);
  s += ')';
  return s;
}

std::vector<std::pair<std::string, std::string>> Optimizer::describe_group(std::size_t group) const {
  return {{"lr", option_text(lr(group))}};
}

// Laid out like PyTorch's Optimizer.__repr__ (a blank line between groups included), except
// that options keep their struct's order rather than being sorted, so lr comes first.
std::string Optimizer::str() const {
  std::string s = name_;
  s += " (";
  for (std::size_t g = 0; g < num_param_groups(); ++g) {
    s += "\nParameter Group ";
    s += std::to_string(g);
    s += '\n';
    for (const auto& [key, value] : describe_group(g)) {
      s += "    ";
      s += key;
      s += ": ";
      s += value;
      s += '\n';
    }
  }
  s += ')';
  return s;
}

std::ostream& operator<<(std::ostream& os, const Optimizer& optimizer) { return os << optimizer.str(); }

void Optimizer::zero_grad() {
  for (Tensor& p : parameters_) p.set_grad(Tensor());
}

double Optimizer::lr(std::size_t group) const {
  check_group(group);
  return lrs_[group];
}

void Optimizer::set_lr(double lr) {
  detail::check_lr(name_, lr);
  std::fill(lrs_.begin(), lrs_.end(), lr);
}

void Optimizer::set_lr(std::size_t group, double lr) {
  check_group(group);
  detail::check_lr(name_, lr);
  lrs_[group] = lr;
}

std::vector<Tensor> Optimizer::parameters(std::size_t group) const {
  check_group(group);
  return {parameters_.begin() + static_cast<std::ptrdiff_t>(group_begin(group)),
          parameters_.begin() + static_cast<std::ptrdiff_t>(group_end(group))};
}

std::size_t Optimizer::group_of(std::size_t index) const {
  // NOTE: empty groups repeat a begin offset; upper_bound skips past them.
  auto it = std::upper_bound(group_begin_.begin(), group_begin_.end(), index);
  return static_cast<std::size_t>(it - group_begin_.begin()) - 1;
}

std::vector<std::string> Optimizer::state_names(std::size_t) const { return {}; }

StateDict Optimizer::state_dict() const {
  NoGradGuard off;
  StateDict out;
  for (std::size_t g = 0; g < lrs_.size(); ++g) {
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    out[prefix + "lr"] = scalar_tensor(lrs_[g], {.dtype = Float64});
    std::vector<int64_t> numbers;
    for (std::size_t i = group_begin(g); i < group_end(g); ++i) numbers.push_back(static_cast<int64_t>(i));
    out[prefix + "params"] = tensor(numbers, {static_cast<int64_t>(numbers.size())}, {.dtype = Int64});
  }
  for (std::size_t i = 0; i < state_.size(); ++i)
    for (const auto& [name, value] : state_[i])
      if (value.defined()) out["state." + std::to_string(i) + "." + name] = value.clone();
  return out;
}

void Optimizer::load_state_dict(const StateDict& dict) {
  const std::string who = name_ + ".load_state_dict";
  const char* op = who.c_str();
  const std::size_t groups = lrs_.size();
  const std::size_t count = parameters_.size();
  std::vector<std::vector<std::string>> names(groups);
  for (std::size_t g = 0; g < groups; ++g) names[g] = state_names(g);

  // Everything is checked and copied into these before *this changes, so a bad dict leaves the
  // optimizer as it was.
  std::vector<double> lrs(groups, -1.0);
  std::vector<bool> has_params(groups, false);
  std::vector<StateDict> state(count);

  NoGradGuard off;
  for (const auto& [key, value] : dict) {
    TAPEFLOW_CHECK(value.defined(), ValueError, op, "key '", key, "' holds an undefined tensor");
    std::size_t index = 0;
    std::string field;
    if (split_key(key, "param_groups.", index, field)) {
      TAPEFLOW_CHECK(index < groups, ValueError, op, "unexpected key '", key, "': the optimizer has ", groups,
                     " parameter group(s)");
      if (field == "lr") {
        TAPEFLOW_CHECK(value.numel() == 1, ValueError, op, "key '", key, "' must hold one value, got shape ",
                       value.shape());
        const double lr = value.item_double();
        TAPEFLOW_CHECK(lr >= 0 && std::isfinite(lr), ValueError, op, "key '", key,
                       "' must hold a finite non-negative learning rate, got ", lr);
        lrs[index] = lr;
      } else if (field == "params") {
        Shape expected;
        for (std::size_t i = group_begin(index); i < group_end(index); ++i) expected.push_back(static_cast<int64_t>(i));
        const Shape got = value.dim() == 1 ? value.to_vector<int64_t>() : Shape{-1};
        TAPEFLOW_CHECK(got == expected, ValueError, op, "key '", key, "' lists parameters ", got,
                       " but this optimizer's group ", index, " holds parameters ", expected);
        has_params[index] = true;
      } else {
        TAPEFLOW_CHECK(false, ValueError, op, "unexpected key '", key, "'");
      }
    } else if (split_key(key, "state.", index, field)) {
      TAPEFLOW_CHECK(index < count, ValueError, op, "unexpected key '", key, "': the optimizer has ", count,
                     " parameter(s)");
      const std::vector<std::string>& allowed = names[group_of(index)];
      TAPEFLOW_CHECK(std::find(allowed.begin(), allowed.end(), field) != allowed.end(), ValueError, op,
                     "unexpected key '", key, "': ", name_, " keeps no '", field, "' state for parameter ", index);
      if (field == "step") {
        TAPEFLOW_CHECK(value.numel() == 1 && value.dtype() != Bool, ValueError, op, "key '", key,
                       "' must hold one number, got shape ", value.shape(), " of ", value.dtype());
        const double step = value.item_double();
        TAPEFLOW_CHECK(step >= 0 && std::isfinite(step) && step == std::floor(step), ValueError, op, "key '",
                       key, "' must hold a whole non-negative step count, got ", step);
        state[index][field] = scalar_tensor(step, {.dtype = Float64});
      } else {
        const Tensor& p = parameters_[index];
        TAPEFLOW_CHECK(value.dtype() == Float32 || value.dtype() == Float64, ValueError, op, "key '", key,
                       "' must be floating point, got ", value.dtype());
        TAPEFLOW_CHECK(value.shape() == p.shape(), ValueError, op, "key '", key, "' has shape ", value.shape(),
                       " but parameter ", index, " has shape ", p.shape());
        Tensor copy = empty_like(p);
        copy.copy_(value);
        state[index][field] = copy;
      }
    } else {
      TAPEFLOW_CHECK(false, ValueError, op, "unexpected key '", key, "'");
    }
  }
  for (std::size_t g = 0; g < groups; ++g) {
    TAPEFLOW_CHECK(lrs[g] >= 0, ValueError, op, "missing key 'param_groups.", g, ".lr'");
    TAPEFLOW_CHECK(has_params[g], ValueError, op, "missing key 'param_groups.", g, ".params'");
  }
  // A parameter has all of its state or none (never stepped).
  for (std::size_t i = 0; i < count; ++i) {
    if (state[i].empty()) continue;
    for (const std::string& name : names[group_of(i)])
      TAPEFLOW_CHECK(state[i].count(name) != 0, ValueError, op, "missing key 'state.", i, ".", name, "'");
  }

  lrs_ = std::move(lrs);
  state_ = std::move(state);
}

void Optimizer::backward_and_step(const Tensor& loss) {
  TAPEFLOW_CHECK(loss.defined(), ValueError, (name_ + ".minimize").c_str(),
                 "the loss function returned an undefined tensor");
  loss.backward();
  step();
}

std::vector<GradAndParam> Optimizer::compute_gradients(const Tensor& loss, const std::vector<Tensor>& params) const {
  TAPEFLOW_CHECK(loss.defined(), ValueError, (name_ + ".compute_gradients").c_str(), "the loss is undefined");
  const std::vector<Tensor>& xs = params.empty() ? parameters_ : params;
  GradOptions options;
  options.allow_unused = true;
  std::vector<Tensor> grads = grad({loss}, xs, options);
  std::vector<GradAndParam> out;
  out.reserve(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) out.emplace_back(grads[i], xs[i]);
  return out;
}

void Optimizer::apply_gradients(const std::vector<GradAndParam>& grads_and_params) {
  const std::string who = name_ + ".apply_gradients";
  const char* op = who.c_str();
  std::map<const void*, std::size_t> number;
  for (std::size_t i = 0; i < parameters_.size(); ++i) number[parameters_[i].impl()] = i;

  std::vector<Tensor> given(parameters_.size());
  std::vector<bool> listed(parameters_.size(), false);
  for (std::size_t k = 0; k < grads_and_params.size(); ++k) {
    const auto& [g, p] = grads_and_params[k];
    auto it = p.defined() ? number.find(p.impl()) : number.end();
    TAPEFLOW_CHECK(it != number.end(), ValueError, op, "pair ", k,
                   ": the tensor is not a parameter of this optimizer");
    TAPEFLOW_CHECK(!listed[it->second], ValueError, op, "pair ", k, ": parameter ", it->second,
                   " is listed more than once");
    listed[it->second] = true;
    if (!g.defined()) continue;
    TAPEFLOW_CHECK(g.shape() == p.shape(), ShapeError, op, "pair ", k, ": gradient of shape ", g.shape(),
                   " for a parameter of shape ", p.shape());
    given[it->second] = g.dtype() == p.dtype() ? g.detach() : g.detach().to(p.dtype());
  }

  std::vector<Tensor> saved(parameters_.size());
  for (std::size_t i = 0; i < parameters_.size(); ++i) saved[i] = parameters_[i].grad();
  auto restore = [&] {
    for (std::size_t i = 0; i < parameters_.size(); ++i) parameters_[i].set_grad(saved[i]);
  };
  try {
    for (std::size_t i = 0; i < parameters_.size(); ++i) parameters_[i].set_grad(given[i]);
    step();
  } catch (...) {
    restore();
    throw;
  }
  restore();
}

}  // namespace tapeflow::optim

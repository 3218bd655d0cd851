// SPDX-License-Identifier: MIT
#include "sgd.hpp"

#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"
#include "detail/check.hpp"
#include "detail/fused_update.hpp"

namespace tapeflow::optim {

SGD::SGD(std::vector<Tensor> parameters, SGDOptions options)
    : SGD("SGD", {ParamGroup<SGDOptions>(std::move(parameters))}, options) {}

SGD::SGD(std::vector<ParamGroup<SGDOptions>> groups, SGDOptions defaults)
    : SGD("SGD", std::move(groups), defaults) {}

SGD::SGD(std::string name, std::vector<ParamGroup<SGDOptions>> groups, SGDOptions defaults)
    : Optimizer(std::move(name)) {
  options_ = add_param_groups(std::move(groups), defaults, [this](const SGDOptions& o) {
    const std::string& who = this->name();
    detail::check_lr(who, o.lr);
    detail::check_non_negative(who, "momentum", o.momentum);
    detail::check_non_negative(who, "weight_decay", o.weight_decay);
    TAPEFLOW_CHECK(std::isfinite(o.dampening), ValueError, who.c_str(), "dampening must be finite, got ",
                   o.dampening);
    TAPEFLOW_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), ValueError, who.c_str(),
                   "Nesterov momentum needs a momentum > 0 and zero dampening (got momentum ", o.momentum,
                   ", dampening ", o.dampening, ")");
  });
}

SGDOptions SGD::options(std::size_t group) const {
  SGDOptions o = options_.at(group);
  o.lr = lr(group);
  return o;
}

std::vector<std::pair<std::string, std::string>> SGD::describe_group(std::size_t group) const {
  const SGDOptions o = options(group);
  return {{"lr", option_text(o.lr)},
          {"momentum", option_text(o.momentum)},
          {"dampening", option_text(o.dampening)},
          {"weight_decay", option_text(o.weight_decay)},
          {"nesterov", option_text(o.nesterov)}};
}

std::vector<std::string> SGD::state_names(std::size_t group) const {
  if (options_[group].momentum != 0) return {"momentum_buffer"};
  return {};
}

void SGD::step() {
  NoGradGuard off;
  for (std::size_t group = 0; group < num_param_groups(); ++group) {
    const SGDOptions& o = options_[group];
    const double rate = lr(group);
    for (std::size_t i = group_begin(group); i < group_end(group); ++i) {
      Tensor& p = parameters_[i];
      Tensor d = p.grad();
      if (!d.defined()) continue;
      const detail::SGDScalars scalars{rate, o.momentum, o.dampening, o.weight_decay, o.nesterov};
      if (o.momentum == 0) {
        if (detail::fused_sgd_update(p, d, Tensor(), false, scalars)) continue;
      } else {
        Tensor& buf = state(i)["momentum_buffer"];
        const bool first = !buf.defined();
        Tensor fresh = first ? empty_like(p) : buf;
        if (detail::fused_sgd_update(p, d, fresh, first, scalars)) {
          buf = fresh;
          continue;
        }
      }
      // The same update in tensor ops, for parameters the fused loop does not take.
      if (o.weight_decay != 0) d = d + p * o.weight_decay;
      if (o.momentum != 0) {
        Tensor& buf = state(i)["momentum_buffer"];
        // NOTE: the first step copies: d may be p.grad() itself, which the buffer must not alias.
        if (!buf.defined()) buf = d.clone();
        else buf.mul_(o.momentum).add_(d * (1.0 - o.dampening));
        d = o.nesterov ? d + buf * o.momentum : buf;
      }
      p.sub_(d * rate);
    }
  }
}

GradientDescentOptimizer::GradientDescentOptimizer(std::vector<Tensor> parameters, double learning_rate)
    : SGD("GradientDescentOptimizer", {ParamGroup<SGDOptions>(std::move(parameters))}, {.lr = learning_rate}) {}

}  // namespace tapeflow::optim

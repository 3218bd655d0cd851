// SPDX-License-Identifier: MIT
#include "rmsprop.hpp"

#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"
#include "detail/check.hpp"
#include "detail/fused_update.hpp"

namespace tapeflow::optim {

RMSprop::RMSprop(std::vector<Tensor> parameters, RMSpropOptions options)
    : RMSprop(std::vector<ParamGroup<RMSpropOptions>>{ParamGroup<RMSpropOptions>(std::move(parameters))},
              options) {}

RMSprop::RMSprop(std::vector<ParamGroup<RMSpropOptions>> groups, RMSpropOptions defaults)
    : Optimizer("RMSprop") {
  options_ = add_param_groups(std::move(groups), defaults, [this](const RMSpropOptions& o) {
    const std::string& who = this->name();
    detail::check_lr(who, o.lr);
    detail::check_non_negative(who, "eps", o.eps);
    detail::check_non_negative(who, "momentum", o.momentum);
    detail::check_non_negative(who, "weight_decay", o.weight_decay);
    TAPEFLOW_CHECK(o.alpha >= 0 && o.alpha <= 1, ValueError, who.c_str(), "alpha must be in [0, 1], got ",
                   o.alpha);
  });
}

RMSpropOptions RMSprop::options(std::size_t group) const {
  RMSpropOptions o = options_.at(group);
  o.lr = lr(group);
  return o;
}

std::vector<std::pair<std::string, std::string>> RMSprop::describe_group(std::size_t group) const {
  const RMSpropOptions o = options(group);
  return {{"lr", option_text(o.lr)},
          {"alpha", option_text(o.alpha)},
          {"eps", option_text(o.eps)},
          {"weight_decay", option_text(o.weight_decay)},
          {"momentum", option_text(o.momentum)},
          {"centered", option_text(o.centered)}};
}

std::vector<std::string> RMSprop::state_names(std::size_t group) const {
  std::vector<std::string> names = {"step", "square_avg"};
  if (options_[group].momentum > 0) names.push_back("momentum_buffer");
  if (options_[group].centered) names.push_back("grad_avg");
  return names;
}

void RMSprop::step() {
  NoGradGuard off;
  for (std::size_t group = 0; group < num_param_groups(); ++group) {
    const RMSpropOptions& o = options_[group];
    const double rate = lr(group);
    for (std::size_t i = group_begin(group); i < group_end(group); ++i) {
      Tensor& p = parameters_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      StateDict& st = state(i);
      Tensor& square_avg = st["square_avg"];
      if (!square_avg.defined()) square_avg = zeros_like(p);
      advance_step(i);

      Tensor grad_avg, buf;
      if (o.centered) {
        Tensor& a = st["grad_avg"];
        if (!a.defined()) a = zeros_like(p);
        grad_avg = a;
      }
      if (o.momentum > 0) {
        Tensor& b = st["momentum_buffer"];
        if (!b.defined()) b = zeros_like(p);
        buf = b;
      }
      const detail::RMSpropScalars scalars{.lr = rate,
                                           .alpha = o.alpha,
                                           .eps = o.eps,
                                           .weight_decay = o.weight_decay,
                                           .momentum = o.momentum};
      if (detail::fused_rmsprop_update(p, g, square_avg, grad_avg, buf, scalars)) continue;

      // The same update in tensor ops, for parameters the fused loop does not take.
      if (o.weight_decay != 0) g = g + p * o.weight_decay;
      square_avg.mul_(o.alpha).add_(g * g * (1.0 - o.alpha));
      Tensor avg;
      if (o.centered) {
        grad_avg.mul_(o.alpha).add_(g * (1.0 - o.alpha));
        avg = sqrt(square_avg - grad_avg * grad_avg) + o.eps;
      } else {
        avg = sqrt(square_avg) + o.eps;
      }
      if (o.momentum > 0) {
        buf.mul_(o.momentum).add_(g / avg);
        p.sub_(buf * rate);
      } else {
        p.sub_(g / avg * rate);
      }
    }
  }
}

}  // namespace tapeflow::optim

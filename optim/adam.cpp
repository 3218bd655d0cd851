// SPDX-License-Identifier: MIT
#include "adam.hpp"

#include <cmath>

#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"
#include "detail/check.hpp"
#include "detail/fused_update.hpp"

namespace tapeflow::optim {

Adam::Adam(std::vector<Tensor> parameters, AdamOptions options)
    : Adam("Adam", {ParamGroup<AdamOptions>(std::move(parameters))}, options, false) {}

Adam::Adam(std::vector<ParamGroup<AdamOptions>> groups, AdamOptions defaults)
    : Adam("Adam", std::move(groups), defaults, false) {}

Adam::Adam(std::string name, std::vector<ParamGroup<AdamOptions>> groups, AdamOptions defaults, bool decoupled)
    : Optimizer(std::move(name)), decoupled_(decoupled) {
  options_ = add_param_groups(std::move(groups), defaults, [this](const AdamOptions& o) {
    const std::string& who = this->name();
    detail::check_lr(who, o.lr);
    detail::check_non_negative(who, "eps", o.eps);
    detail::check_unit_interval(who, "betas.first (beta1)", o.betas.first);
    detail::check_unit_interval(who, "betas.second (beta2)", o.betas.second);
    detail::check_non_negative(who, "weight_decay", o.weight_decay);
  });
}

AdamOptions Adam::options(std::size_t group) const {
  AdamOptions o = options_.at(group);
  o.lr = lr(group);
  return o;
}

std::vector<std::pair<std::string, std::string>> Adam::describe_group(std::size_t group) const {
  const AdamOptions o = options(group);
  return {{"lr", option_text(o.lr)},
          {"betas", option_text(o.betas)},
          {"eps", option_text(o.eps)},
          {"weight_decay", option_text(o.weight_decay)},
          {"amsgrad", option_text(o.amsgrad)}};
}

std::vector<std::string> Adam::state_names(std::size_t group) const {
  if (options_[group].amsgrad) return {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"step", "exp_avg", "exp_avg_sq"};
}

void Adam::step() {
  NoGradGuard off;
  for (std::size_t group = 0; group < num_param_groups(); ++group) {
    const AdamOptions& o = options_[group];
    const double rate = lr(group);
    const auto [beta1, beta2] = o.betas;
    for (std::size_t i = group_begin(group); i < group_end(group); ++i) {
      Tensor& p = parameters_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      StateDict& st = state(i);
      Tensor& exp_avg = st["exp_avg"];
      Tensor& exp_avg_sq = st["exp_avg_sq"];
      if (!exp_avg.defined()) exp_avg = zeros_like(p);
      if (!exp_avg_sq.defined()) exp_avg_sq = zeros_like(p);
      const double t = advance_step(i);
      const double bias_correction1 = 1.0 - std::pow(beta1, t);
      const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(beta2, t));
      Tensor max_sq;
      if (o.amsgrad) {
        Tensor& m = st["max_exp_avg_sq"];
        if (!m.defined()) m = zeros_like(p);
        max_sq = m;
      }
      const bool decay = o.weight_decay != 0;
      const detail::AdamScalars scalars{.beta1 = beta1,
                                        .beta2 = beta2,
                                        .eps = o.eps,
                                        .weight_decay = decay && !decoupled_ ? o.weight_decay : 0.0,
                                        .decay_factor = decay && decoupled_ ? 1.0 - rate * o.weight_decay : 1.0,
                                        .bias_correction2_sqrt = bias_correction2_sqrt,
                                        .step_size = rate / bias_correction1};
      if (detail::fused_adam_update(p, g, exp_avg, exp_avg_sq, max_sq, scalars)) continue;

      // The same update in tensor ops, for parameters the fused loop does not take.
      if (o.weight_decay != 0) {
        if (decoupled_) p.mul_(1.0 - rate * o.weight_decay);
        else g = g + p * o.weight_decay;
      }
      exp_avg.mul_(beta1).add_(g * (1.0 - beta1));
      exp_avg_sq.mul_(beta2).add_(g * g * (1.0 - beta2));
      Tensor second = exp_avg_sq;
      if (o.amsgrad) {
        max_sq.copy_(maximum(max_sq, exp_avg_sq));
        second = max_sq;
      }
      Tensor denom = sqrt(second) / bias_correction2_sqrt + o.eps;
      p.sub_(exp_avg / denom * (rate / bias_correction1));
    }
  }
}

}  // namespace tapeflow::optim

// SPDX-License-Identifier: MIT
#include "adagrad.hpp"

#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"
#include "detail/check.hpp"
#include "detail/fused_update.hpp"

namespace tapeflow::optim {

Adagrad::Adagrad(std::vector<Tensor> parameters, AdagradOptions options)
    : Adagrad(std::vector<ParamGroup<AdagradOptions>>{ParamGroup<AdagradOptions>(std::move(parameters))},
              options) {}

Adagrad::Adagrad(std::vector<ParamGroup<AdagradOptions>> groups, AdagradOptions defaults)
    : Optimizer("Adagrad") {
  options_ = add_param_groups(std::move(groups), defaults, [this](const AdagradOptions& o) {
    const std::string& who = this->name();
    detail::check_lr(who, o.lr);
    detail::check_non_negative(who, "lr_decay", o.lr_decay);
    detail::check_non_negative(who, "weight_decay", o.weight_decay);
    detail::check_non_negative(who, "initial_accumulator_value", o.initial_accumulator_value);
    detail::check_non_negative(who, "eps", o.eps);
  });
  NoGradGuard off;
  for (std::size_t group = 0; group < num_param_groups(); ++group)
    for (std::size_t i = group_begin(group); i < group_end(group); ++i) {
      state(i)["step"] = scalar_tensor(0.0, {.dtype = Float64});
      state(i)["sum"] = full_like(parameters_[i], options_[group].initial_accumulator_value);
    }
}

AdagradOptions Adagrad::options(std::size_t group) const {
  AdagradOptions o = options_.at(group);
  o.lr = lr(group);
  return o;
}

std::vector<std::pair<std::string, std::string>> Adagrad::describe_group(std::size_t group) const {
  const AdagradOptions o = options(group);
  return {{"lr", option_text(o.lr)},
          {"lr_decay", option_text(o.lr_decay)},
          {"weight_decay", option_text(o.weight_decay)},
          {"initial_accumulator_value", option_text(o.initial_accumulator_value)},
          {"eps", option_text(o.eps)}};
}

std::vector<std::string> Adagrad::state_names(std::size_t) const { return {"step", "sum"}; }

void Adagrad::step() {
  NoGradGuard off;
  for (std::size_t group = 0; group < num_param_groups(); ++group) {
    const AdagradOptions& o = options_[group];
    const double rate = lr(group);
    for (std::size_t i = group_begin(group); i < group_end(group); ++i) {
      Tensor& p = parameters_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      // NOTE: load_state_dict may leave a never-stepped parameter without state.
      Tensor& sum = state(i)["sum"];
      if (!sum.defined()) sum = full_like(p, o.initial_accumulator_value);
      const double t = advance_step(i);

      const double clr = rate / (1.0 + (t - 1.0) * o.lr_decay);
      if (detail::fused_adagrad_update(p, g, sum, {.lr = clr, .weight_decay = o.weight_decay, .eps = o.eps}))
        continue;

      // The same update in tensor ops, for parameters the fused loop does not take.
      if (o.weight_decay != 0) g = g + p * o.weight_decay;
      sum.add_(g * g);
      p.sub_(g / (sqrt(sum) + o.eps) * clr);
    }
  }
}

}  // namespace tapeflow::optim

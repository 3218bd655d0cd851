// SPDX-License-Identifier: MIT
#include "adamw.hpp"

namespace tapeflow::optim {

namespace {

AdamOptions as_adam(const AdamWOptions& o) {
  return {.lr = o.lr, .betas = o.betas, .eps = o.eps, .weight_decay = o.weight_decay, .amsgrad = o.amsgrad};
}

std::vector<ParamGroup<AdamOptions>> as_adam(std::vector<ParamGroup<AdamWOptions>> groups,
                                             const AdamWOptions& defaults) {
  // NOTE: a group without options takes AdamW's defaults here, before Adam sees it.
  std::vector<ParamGroup<AdamOptions>> out;
  out.reserve(groups.size());
  for (ParamGroup<AdamWOptions>& g : groups)
    out.emplace_back(std::move(g.params), as_adam(g.options ? *g.options : defaults));
  return out;
}

}  // namespace

AdamW::AdamW(std::vector<Tensor> parameters, AdamWOptions options)
    : Adam("AdamW", {ParamGroup<AdamOptions>(std::move(parameters), as_adam(options))}, as_adam(options), true) {}

AdamW::AdamW(std::vector<ParamGroup<AdamWOptions>> groups, AdamWOptions defaults)
    : Adam("AdamW", as_adam(std::move(groups), defaults), as_adam(defaults), true) {}

}  // namespace tapeflow::optim

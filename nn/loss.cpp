// SPDX-License-Identifier: MIT
#include "loss.hpp"

#include <cmath>

#include "../autograd/detail/index_range.hpp"
#include "../autograd/tape.hpp"

namespace tapeflow::nn {

namespace {

Tensor reduce(const Tensor& losses, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return losses;
    case Reduction::Mean: return mean(losses);
    case Reduction::Sum: return sum(losses);
  }
  throw ValueError("loss: unknown reduction");
}

void check_pair(const char* op, const Tensor& input, const Tensor& target) {
  if (!input.defined() || !target.defined()) throw ValueError(std::string(op) + ": got an undefined tensor");
  if (!is_floating(input.dtype()))
    throw DTypeError(std::string(op) + ": input must be floating, got " + dtype_name(input.dtype()));
  broadcast_shapes(input.shape(), target.shape(), op);
}

/// log_probs[i, targets[i]] for every row i, as a gather over the flattened matrix: O(N), not
/// the O(N·C) of a one-hot product, and its backward is a scatter into the same positions.
Tensor pick(const char* op, const Tensor& log_probs, const Tensor& targets) {
  if (!log_probs.defined() || !targets.defined()) throw ValueError(std::string(op) + ": got an undefined tensor");
  if (log_probs.dim() != 2 || targets.dim() != 1 || targets.size(0) != log_probs.size(0))
    throw ShapeError(std::string(op) + ": expects input [N, C] and targets [N], got " + shape_str(log_probs.shape()) +
                     " and " + shape_str(targets.shape()));
  if (targets.dtype() != Int64)
    throw DTypeError(std::string(op) + ": targets must be int64 class indices, got " + dtype_name(targets.dtype()));
  const int64_t n = log_probs.size(0), c = log_probs.size(1);
  if (const auto bad = detail::index_out_of_range(targets, c))
    throw ValueError(std::string(op) + ": target " + std::to_string(*bad) + " is out of range for " +
                     std::to_string(c) + " classes");
  Tensor rows = arange(0, static_cast<double>(n), 1, {.dtype = Int64, .device = targets.device()});
  // Every targets[i] is in [0, c), so every row·c + targets[i] is inside the n·c elements.
  return detail::index_select_in_range(log_probs.reshape({-1}), 0, rows * c + targets);
}

}  // namespace

Tensor functional::nll_loss(const Tensor& log_probs, const Tensor& targets, const NLLLossOptions& options) {
  return reduce(-pick("nll_loss", log_probs, targets), options.reduction);
}

Tensor functional::cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options) {
  const double s = options.label_smoothing;
  if (!(s >= 0.0 && s <= 1.0))
    throw ValueError("cross_entropy: label_smoothing must be in [0, 1], got " + std::to_string(s));
  // The common case goes to the fused, single-op kernel.
  if (s == 0.0 && options.reduction == Reduction::Mean) return tapeflow::cross_entropy(logits, targets);
  if (!logits.defined() || logits.dim() != 2)
    throw ShapeError("cross_entropy: expects logits [N, C], got " +
                     (logits.defined() ? shape_str(logits.shape()) : std::string("an undefined tensor")));
  Tensor log_probs = log_softmax(logits, 1);
  Tensor losses = -pick("cross_entropy", log_probs, targets);
  // Smoothing: the target is (1-s)·onehot + s/C, so the loss gains s·mean_c(-log p_c).
  if (s > 0.0) losses = (1.0 - s) * losses - s * log_probs.mean(1);
  return reduce(losses, options.reduction);
}

Tensor functional::mse_loss(const Tensor& input, const Tensor& target, const LossOptions& options) {
  check_pair("mse_loss", input, target);
  Tensor d = input - target;
  return reduce(d * d, options.reduction);
}

Tensor functional::l1_loss(const Tensor& input, const Tensor& target, const LossOptions& options) {
  check_pair("l1_loss", input, target);
  return reduce(abs(input - target), options.reduction);
}

Tensor functional::binary_cross_entropy(const Tensor& probs, const Tensor& target, const LossOptions& options) {
  check_pair("binary_cross_entropy", probs, target);
  {
    NoGradGuard off;
    // Written so that NaN (which min and max propagate) fails too, as in PyTorch.
    if (probs.numel() > 0 && !(min(probs).item<double>() >= 0.0 && max(probs).item<double>() <= 1.0))
      throw ValueError("binary_cross_entropy: input probabilities must lie in [0, 1] (and not be NaN)");
  }
  // Like PyTorch, logs are floored at -100 so that p = 0 or 1 gives a large finite loss, not
  // inf; flooring p itself (not the log) also keeps the gradient there finite (0, not 0/0).
  const double floor = std::exp(-100.0);
  Tensor log_p = log(clamp(probs, floor, std::nullopt));
  Tensor log_1mp = log(clamp(1.0 - probs, floor, std::nullopt));
  return reduce(-(target * log_p + (1.0 - target) * log_1mp), options.reduction);
}

Tensor functional::binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                                    const LossOptions& options) {
  check_pair("binary_cross_entropy_with_logits", logits, target);
  // -[y log σ(x) + (1-y) log σ(-x)] = (1-y)·x - log σ(x), and -log σ(x) = logsumexp(0, -x):
  // stable for any x and smooth at 0 (forms built on |x| or relu(x) get the gradient at
  // x = 0 wrong, which is exactly where a zero-initialised model starts).
  Tensor z = stack({zeros_like(logits), -logits}, -1);
  return reduce((1.0 - target) * logits + logsumexp(z, {-1}), options.reduction);
}

}  // namespace tapeflow::nn

// SPDX-License-Identifier: MIT
// Losses as functions (nn::functional) and modules. Each reduces with `reduction`: the mean
// over examples (the default), their sum, or none (one loss per example).
#pragma once
#include "../tensor/ops.hpp"
#include "module.hpp"

namespace tapeflow::nn {

enum class Reduction { None, Mean, Sum };

struct CrossEntropyOptions {
  Reduction reduction = Reduction::Mean;
  /// Mixes the one-hot target with the uniform distribution: (1 - s) * onehot + s / C.
  double label_smoothing = 0.0;
};
struct NLLLossOptions {
  Reduction reduction = Reduction::Mean;
};
struct LossOptions {
  Reduction reduction = Reduction::Mean;
};

namespace functional {
/// The fused two-argument forms (mean over the batch) are tapeflow::cross_entropy and
/// tapeflow::mse_loss; the overloads below take options.
using tapeflow::cross_entropy;
using tapeflow::mse_loss;
/// logits [N, C] and Int64 class indices [N] in [0, C).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options);
/// -log_probs[i, targets[i]]: log_probs [N, C] (e.g. from log_softmax), targets Int64 [N].
Tensor nll_loss(const Tensor& log_probs, const Tensor& targets, const NLLLossOptions& options = {});
/// (input - target)^2, elementwise; target broadcasts to input.
Tensor mse_loss(const Tensor& input, const Tensor& target, const LossOptions& options);
/// |input - target|, elementwise.
Tensor l1_loss(const Tensor& input, const Tensor& target, const LossOptions& options = {});
/// -[y log p + (1 - y) log(1 - p)] for probabilities p (logs clamped at -100, as PyTorch).
Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target, const LossOptions& options = {});
/// binary_cross_entropy(sigmoid(logits), target), computed stably from the logits.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const LossOptions& options = {});
}  // namespace functional

/// Loss modules take (input, target); they have no one-tensor forward.
class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(CrossEntropyOptions options = {}) : Module("CrossEntropyLoss"), options(options) {}
  using Module::forward;
  Tensor forward(const Tensor& logits, const Tensor& targets) const {
    return functional::cross_entropy(logits, targets, options);
  }
  Tensor operator()(const Tensor& logits, const Tensor& targets) const { return forward(logits, targets); }
  CrossEntropyOptions options;
};

class NLLLoss : public Module {
 public:
  explicit NLLLoss(NLLLossOptions options = {}) : Module("NLLLoss"), options(options) {}
  using Module::forward;
  Tensor forward(const Tensor& log_probs, const Tensor& targets) const {
    return functional::nll_loss(log_probs, targets, options);
  }
  Tensor operator()(const Tensor& log_probs, const Tensor& targets) const { return forward(log_probs, targets); }
  NLLLossOptions options;
};

/// MSELoss, L1Loss, BCELoss and BCEWithLogitsLoss: a function of (input, target, options).
template <Tensor (*Fn)(const Tensor&, const Tensor&, const LossOptions&)>
class ElementwiseLoss : public Module {
 public:
  explicit ElementwiseLoss(const char* type_name, LossOptions options = {}) : Module(type_name), options(options) {}
  using Module::forward;
  Tensor forward(const Tensor& input, const Tensor& target) const { return Fn(input, target, options); }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }
  LossOptions options;
};

class MSELoss : public ElementwiseLoss<functional::mse_loss> {
 public:
  explicit MSELoss(LossOptions options = {}) : ElementwiseLoss("MSELoss", options) {}
};
class L1Loss : public ElementwiseLoss<functional::l1_loss> {
 public:
  explicit L1Loss(LossOptions options = {}) : ElementwiseLoss("L1Loss", options) {}
};
class BCELoss : public ElementwiseLoss<functional::binary_cross_entropy> {
 public:
  explicit BCELoss(LossOptions options = {}) : ElementwiseLoss("BCELoss", options) {}
};
class BCEWithLogitsLoss : public ElementwiseLoss<functional::binary_cross_entropy_with_logits> {
 public:
  explicit BCEWithLogitsLoss(LossOptions options = {}) : ElementwiseLoss("BCEWithLogitsLoss", options) {}
};

}  // namespace tapeflow::nn

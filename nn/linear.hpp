// SPDX-License-Identifier: MIT
#pragma once
#include "module.hpp"

namespace tapeflow::nn {

namespace functional {
/// y = x·Wᵀ + b, with weight [out, in] and an optional bias [out] (LibTorch's layout).
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());
}  // namespace functional

struct LinearOptions {
  bool bias = true;
};

/// Fully connected layer: [..., in_features] -> [..., out_features]. Weight and bias start
/// U(-1/sqrt(in_features), 1/sqrt(in_features)), LibTorch's default.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, LinearOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  /// Draws fresh initial values.
  void reset_parameters();

  Tensor weight;
  Tensor bias;  ///< undefined with {.bias = false}
  int64_t in_features;
  int64_t out_features;
};

/// Passes its input through unchanged.
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& input) override { return input; }
};

/// Flattens dims start_dim..end_dim into one (by default all but the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  int64_t start_dim;
  int64_t end_dim;
};

}  // namespace tapeflow::nn

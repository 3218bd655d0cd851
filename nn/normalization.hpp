// SPDX-License-Identifier: MIT
// Batch normalisation (statistics over the batch, per channel) and layer normalisation
// (statistics over each example's last dims).
#pragma once
#include "module.hpp"

namespace tapeflow::nn {

namespace functional {
/// Normalises each channel (dim 1) of x [N, C, ...]. In training, uses the batch's mean and
/// biased variance and, when the running tensors are given, updates them in place:
/// running = (1 - momentum) * running + momentum * batch (the unbiased variance, as PyTorch).
/// Otherwise normalises with the running statistics. weight and bias [C] may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);
/// Normalises over the last normalized_shape.size() dims, which must equal normalized_shape;
/// weight and bias (of normalized_shape) may be undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
}  // namespace functional

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;               ///< learn weight (ones) and bias (zeros)
  bool track_running_stats = true;  ///< keep running_mean/running_var for eval()
};

/// Shared by BatchNorm1d and BatchNorm2d, which differ only in the input ranks they take.
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight, bias;                                      ///< [C], with affine
  Tensor running_mean, running_var, num_batches_tracked;  ///< buffers, with track_running_stats
  int64_t num_features;
  BatchNormOptions options;

 protected:
  BatchNorm(const char* type_name, int64_t num_features, BatchNormOptions options, int64_t min_rank,
            int64_t max_rank);

 private:
  int64_t min_rank_, max_rank_;
};

/// Over [N, C] or [N, C, L].
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, BatchNormOptions options = {})
      : BatchNorm("BatchNorm1d", num_features, options, 2, 3) {}
};

/// Over [N, C, H, W].
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, BatchNormOptions options = {})
      : BatchNorm("BatchNorm2d", num_features, options, 4, 4) {}
};

struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, LayerNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight, bias;
  Shape normalized_shape;
  LayerNormOptions options;
};

}  // namespace tapeflow::nn

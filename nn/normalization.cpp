// SPDX-License-Identifier: MIT
#include "normalization.hpp"

#include <cmath>

#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"

namespace tapeflow::nn {

namespace {

void check_param(const char* op, const Tensor& t, const char* what, const Shape& expected) {
  if (t.defined() && t.shape() != expected)
    throw ShapeError(std::string(op) + ": " + what + " has shape " + shape_str(t.shape()) + ", expected " +
                     shape_str(expected));
}

/// [C] -> [1, C, 1, ...] so that it broadcasts over an input of `rank` dims.
Tensor per_channel(const Tensor& t, int64_t rank) {
  Shape s(static_cast<std::size_t>(rank), 1);
  s[1] = t.numel();
  return t.reshape(s);
}

}  // namespace

Tensor functional::batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                              const Tensor& weight, const Tensor& bias, bool training, double momentum,
                              double eps) {
  if (!x.defined() || x.dim() < 2)
    throw ShapeError("batch_norm: expects an input [N, C, ...], got " +
                     (x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor")));
  if (!is_floating(x.dtype())) throw DTypeError(std::string("batch_norm: needs a floating input, got ") + dtype_name(x.dtype()));
  const int64_t channels = x.size(1);
  for (auto [t, what] : {std::pair{&running_mean, "running_mean"}, {&running_var, "running_var"},
                         {&weight, "weight"}, {&bias, "bias"}})
    check_param("batch_norm", *t, what, {channels});
  Axes axes{0};
  for (int64_t d = 2; d < x.dim(); ++d) axes.push_back(d);
  const int64_t count = x.numel() / std::max<int64_t>(channels, 1);

  Tensor mean, var;
  if (training || !running_mean.defined()) {
    if (count <= 1)
      throw ValueError("batch_norm: training needs more than one value per channel, got input " + shape_str(x.shape()));
    mean = x.mean(axes, true);
    Tensor centred = x - mean;
    var = (centred * centred).mean(axes, true);
    if (training && running_mean.defined()) {
      NoGradGuard off;
      const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      Tensor batch_mean = mean.detach().reshape({channels}).to(running_mean.dtype());
      Tensor batch_var = (var.detach().reshape({channels}) * unbias).to(running_var.dtype());
      Tensor rm = running_mean, rv = running_var;
      rm.mul_(1.0 - momentum).add_(batch_mean * momentum);
      rv.mul_(1.0 - momentum).add_(batch_var * momentum);
    }
  } else {
    mean = per_channel(running_mean, x.dim()).to(x.dtype());
    var = per_channel(running_var, x.dim()).to(x.dtype());
  }
  Tensor y = (x - mean) / sqrt(var + eps);
  if (weight.defined()) y = y * per_channel(weight, x.dim());
  if (bias.defined()) y = y + per_channel(bias, x.dim());
  return y;
}

Tensor functional::layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                              const Tensor& bias, double eps) {
  const auto k = static_cast<int64_t>(normalized_shape.size());
  bool fits = x.defined() && k > 0 && x.dim() >= k;
  for (int64_t i = 0; fits && i < k; ++i) fits = x.size(x.dim() - k + i) == normalized_shape[static_cast<std::size_t>(i)];
  if (!fits)
    throw ShapeError("layer_norm: input " + (x.defined() ? shape_str(x.shape()) : std::string("<undefined>")) +
                     " does not end in normalized_shape " + shape_str(normalized_shape));
  check_param("layer_norm", weight, "weight", normalized_shape);
  check_param("layer_norm", bias, "bias", normalized_shape);
  Axes axes;
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) axes.push_back(d);
  Tensor mean = x.mean(axes, true);
  Tensor centred = x - mean;
  Tensor y = centred / sqrt((centred * centred).mean(axes, true) + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

BatchNorm::BatchNorm(const char* type_name, int64_t num_features, BatchNormOptions options, int64_t min_rank,
                     int64_t max_rank)
    : Module(type_name), num_features(num_features), options(options), min_rank_(min_rank), max_rank_(max_rank) {
  if (num_features <= 0)
    throw ValueError(std::string(type_name) + ": num_features must be positive, got " + std::to_string(num_features));
  // A negative eps makes sqrt(var + eps) NaN on constant channels; momentum is a mixing weight.
  if (!(options.eps >= 0.0 && std::isfinite(options.eps)))
    throw ValueError(std::string(type_name) + ": eps must be a finite non-negative number, got " + std::to_string(options.eps));
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0))
    throw ValueError(std::string(type_name) + ": momentum must be in [0, 1], got " + std::to_string(options.momentum));
  if (options.affine) {
    weight = register_parameter("weight", ones({num_features}));
    bias = register_parameter("bias", zeros({num_features}));
  }
  if (options.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {.dtype = Int64}));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (!x.defined() || x.dim() < min_rank_ || x.dim() > max_rank_ || x.size(1) != num_features)
    throw ShapeError(type_name() + ": expects input " + (max_rank_ == 4 ? "[N, C, H, W]" : "[N, C] or [N, C, L]") +
                     " with C = " + std::to_string(num_features) + ", got " +
                     (x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor")));
  const bool use_batch = is_training() || !options.track_running_stats;
  if (is_training() && options.track_running_stats) {
    NoGradGuard off;
    num_batches_tracked.add_(1.0);
  }
  return functional::batch_norm(x, options.track_running_stats ? running_mean : Tensor(),
                                options.track_running_stats ? running_var : Tensor(), weight, bias, use_batch,
                                options.momentum, options.eps);
}

std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + std::to_string(options.eps) +
         ", momentum=" + std::to_string(options.momentum) + ", affine=" + (options.affine ? "true" : "false");
}

LayerNorm::LayerNorm(Shape shape, LayerNormOptions options)
    : Module("LayerNorm"), normalized_shape(std::move(shape)), options(options) {
  if (normalized_shape.empty()) throw ValueError("LayerNorm: normalized_shape must not be empty");
  for (int64_t s : normalized_shape)
    if (s <= 0)
      throw ValueError("LayerNorm: normalized_shape " + shape_str(normalized_shape) + " must have positive sizes");
  shape_numel(normalized_shape, "LayerNorm");
  if (!(options.eps >= 0.0 && std::isfinite(options.eps)))
    throw ValueError("LayerNorm: eps must be a finite non-negative number, got " + std::to_string(options.eps));
  if (options.elementwise_affine) {
    weight = register_parameter("weight", ones(normalized_shape));
    bias = register_parameter("bias", zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return functional::layer_norm(x, normalized_shape, weight, bias, options.eps);
}

std::string LayerNorm::extra_repr() const {
  return shape_str(normalized_shape) + ", eps=" + std::to_string(options.eps);
}

}  // namespace tapeflow::nn

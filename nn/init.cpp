// SPDX-License-Identifier: MIT
#include "init.hpp"

#include <cmath>

#include "../autograd/tape.hpp"
#include "../tensor/ops.hpp"

namespace tapeflow::nn::init {

namespace {

void check(const char* op, const Tensor& t) {
  if (!t.defined()) throw ValueError(std::string(op) + ": the tensor is undefined");
  if (!is_floating(t.dtype()))
    throw DTypeError(std::string(op) + ": needs a floating tensor, got " + dtype_name(t.dtype()));
}

/// Overwrites t with `values` without recording, so parameters can be re-initialised.
Tensor fill_from(Tensor& t, const Tensor& values) {
  NoGradGuard off;
  t.copy_(values);
  return t;
}

Options like(const Tensor& t) { return {.dtype = t.dtype(), .device = t.device()}; }

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + param * param));
  }
  return 1.0;
}

Fans calculate_fan_in_and_fan_out(const Tensor& t) {
  if (!t.defined() || t.dim() < 2)
    throw ShapeError("calculate_fan_in_and_fan_out: needs a tensor with 2 or more dims, got " +
                     (t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor")));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor uniform_(Tensor t, double low, double high) {
  check("uniform_", t);
  return fill_from(t, uniform(t.shape(), low, high, like(t)));
}

Tensor normal_(Tensor t, double mean, double stddev) {
  check("normal_", t);
  return fill_from(t, normal(t.shape(), mean, stddev, like(t)));
}

Tensor trunc_normal_(Tensor t, double mean, double stddev, double a, double b) {
  check("trunc_normal_", t);
  if (!(a < b) || !(stddev > 0))
    throw ValueError("trunc_normal_: needs a < b and stddev > 0, got a=" + std::to_string(a) +
                     " b=" + std::to_string(b) + " stddev=" + std::to_string(stddev));
  // Redraw what falls outside [a, b]. Each round keeps the fraction of N(mean, stddev) inside
  // the window, so a window holding almost none of it is reported rather than looped on.
  Tensor values = normal(t.shape(), mean, stddev, like(t));
  for (int round = 0; round < 1000; ++round) {
    Tensor outside = clamp(values, a, b) != values;
    if (!outside.sum().item<int64_t>()) return fill_from(t, values);
    values = where(outside, normal(t.shape(), mean, stddev, like(t)), values);
  }
  throw ValueError("trunc_normal_: [a, b] holds too little of N(mean, stddev) to sample from");
}

Tensor constant_(Tensor t, double value) {
  check("constant_", t);
  NoGradGuard off;
  t.fill_(value);
  return t;
}
Tensor zeros_(Tensor t) { return constant_(std::move(t), 0.0); }
Tensor ones_(Tensor t) { return constant_(std::move(t), 1.0); }

Tensor xavier_uniform_(Tensor t, double gain) {
  const Fans f = calculate_fan_in_and_fan_out(t);
  const double r = gain * std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
  return uniform_(std::move(t), -r, r);
}

Tensor xavier_normal_(Tensor t, double gain) {
  const Fans f = calculate_fan_in_and_fan_out(t);
  return normal_(std::move(t), 0.0, gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out)));
}

namespace {
double kaiming_std(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity) {
  const Fans f = calculate_fan_in_and_fan_out(t);
  const int64_t fan = mode == FanMode::FanIn ? f.fan_in : f.fan_out;
  if (fan == 0) throw ShapeError("kaiming init: tensor of shape " + shape_str(t.shape()) + " has a zero fan");
  return calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
}
}  // namespace

Tensor kaiming_uniform_(Tensor t, double a, FanMode mode, Nonlinearity nonlinearity) {
  const double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity);
  return uniform_(std::move(t), -bound, bound);
}

Tensor kaiming_normal_(Tensor t, double a, FanMode mode, Nonlinearity nonlinearity) {
  // Not normal_(std::move(t), 0.0, kaiming_std(t, ...)): the order in which arguments are
  // evaluated is unspecified, and clang moves t out before kaiming_std reads it.
  const double stddev = kaiming_std(t, a, mode, nonlinearity);
  return normal_(std::move(t), 0.0, stddev);
}

}  // namespace tapeflow::nn::init

// SPDX-License-Identifier: MIT
// Parameter initialisers, with LibTorch's names and formulas. Each fills `tensor` in place
// (without recording) from the generator seeded by manual_seed() and returns it.
#pragma once
#include "../tensor/tensor.hpp"

namespace tapeflow::nn::init {

enum class Nonlinearity { Linear, Conv, Sigmoid, Tanh, ReLU, LeakyReLU };
enum class FanMode { FanIn, FanOut };

/// The recommended gain for a nonlinearity (LeakyReLU uses `param` as its negative slope).
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);
/// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (2+ dims).
struct Fans {
  int64_t fan_in;
  int64_t fan_out;
};
Fans calculate_fan_in_and_fan_out(const Tensor& tensor);

Tensor uniform_(Tensor tensor, double low = 0.0, double high = 1.0);
Tensor normal_(Tensor tensor, double mean = 0.0, double stddev = 1.0);
/// Normal(mean, stddev) with values outside [a, b] redrawn.
Tensor trunc_normal_(Tensor tensor, double mean = 0.0, double stddev = 1.0, double a = -2.0, double b = 2.0);
Tensor constant_(Tensor tensor, double value);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);
/// Glorot: U(-r, r) with r = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0);
/// Glorot: N(0, gain^2 * 2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor tensor, double gain = 1.0);
/// He: U(-r, r) with r = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).
Tensor kaiming_uniform_(Tensor tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
/// He: N(0, (gain / sqrt(fan))^2).
Tensor kaiming_normal_(Tensor tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);

}  // namespace tapeflow::nn::init

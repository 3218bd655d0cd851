// SPDX-License-Identifier: MIT
// Linear regression by gradient descent: recover y = 2x + 1 from 200 noisy points.
//
// The data are drawn with tapeflow's seeded generator (x uniform on [0, 1), noise normal with
// standard deviation 0.1), so every run prints the same numbers. The model is pred = x·w + b
// with w and b of shape {1}; each step is one full-batch gradient of the mean squared error.
// --device cuda trains on the GPU: the data are drawn on the CPU (the same numbers on every
// device) and moved there, and the parameters are created there.
#include <tapeflow/tapeflow.hpp>

#include <cmath>
#include <cstdio>
#include <exception>

#include "../common/cli.hpp"

using namespace tapeflow;

int main(int argc, char** argv) try {
  const samples::Cli cli(argc, argv, "linear_regression", "fits y = 2x + 1 to 200 noisy points", {});
  const Device device = cli.device();  // exits with the reason when a GPU was asked for and is not there
  manual_seed(0);
  const int64_t n = 200;
  Tensor x = rand({n, 1});
  Tensor y = (2.0 * x + 1.0 + normal({n, 1}, 0.0, 0.1)).to(device);
  x = x.to(device);  // a no-op on the CPU

  Tensor w = zeros({1}, {.device = device}).requires_grad_();
  Tensor b = zeros({1}, {.device = device}).requires_grad_();
  // With x in [0, 1) the loss surface is well enough conditioned for a large step: the
  // Hessian's largest eigenvalue is about 2.5, so any lr below 0.8 converges.
  optim::SGD sgd({w, b}, {.lr = 0.5});

  const int steps = 200;
  for (int step = 0; step <= steps; ++step) {
    Tensor loss = mse_loss(x * w + b, y);  // [200,1] * [1] broadcasts to [200,1]
    if (step % 20 == 0) std::printf("step %3d: loss %.6f\n", step, loss.item<float>());
    if (step == steps) break;
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  }

  const float wv = w.item<float>(), bv = b.item<float>();
  std::printf("learned weight %.4f (true 2), bias %.4f (true 1)\n", wv, bv);
  // Noise of std 0.1 over 200 points leaves the estimates within a few hundredths of the truth.
  return std::fabs(wv - 2.0f) < 0.1f && std::fabs(bv - 1.0f) < 0.1f ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "linear_regression: %s\n", e.what());
  return 1;
}

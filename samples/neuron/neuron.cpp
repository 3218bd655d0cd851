// SPDX-License-Identifier: MIT
// The single neuron of TensorFlow's first tutorial ("Hello, TensorFlow!"), run eagerly.
//
// One input x = 1.0, one weight w = 0.8, output y = w·x, and we want y to be 0. The loss is
// (y - 0)², so dloss/dw = 2·w·x = 1.6 at the start, and plain gradient descent with learning rate
// 0.025 shrinks w by 5% per step.
//
// The tutorial first takes one step by hand (compute the gradient, apply it: w = 0.76), then
// trains for 100 steps, recording the output before each one; after them it reads 0.0044996
// (= 0.76 · 0.95^100). This program follows the same script, so it prints the same number.
// --device cuda runs it on the GPU: the two tensors are created there, and everything computed
// from them stays there.
#include <tapeflow/tapeflow.hpp>

#include <cmath>
#include <cstdio>
#include <exception>

#include "../common/cli.hpp"

using namespace tapeflow;

int main(int argc, char** argv) try {
  const samples::Cli cli(argc, argv, "neuron", "TensorFlow's first tutorial: one neuron, gradient descent", {});
  const Device device = cli.device();  // exits with the reason when a GPU was asked for and is not there
  const float target = 0.0f;
  Tensor x = tensor({1.0f}, {}, {.device = device});                         // float32, shape {1}
  Tensor w = tensor({0.8f}, {}, {.device = device}).requires_grad_();        // the one trainable value
  auto model = [&] { return w * x; };
  auto loss_of = [&](const Tensor& y) { return (y - target).pow(2.0).sum(); };

  std::printf("output before training: %.7f\n", model().item<float>());

  // Part 1: one step by hand, as the tutorial does with compute_gradients/apply_gradients.
  Tensor loss = loss_of(model());
  loss.backward();
  std::printf("dloss/dw = %.7f\n", w.grad().item<float>());
  {
    NoGradGuard off;  // the update itself must not be recorded
    w.sub_(w.grad() * 0.025);
  }
  w.set_grad(Tensor());
  std::printf("output after one step by hand: %.7f\n\n", model().item<float>());

  // Part 2: 100 steps with the optimizer, printing the output before each (the tutorial's
  // summary of y, which it plots in TensorBoard).
  optim::SGD sgd({w}, {.lr = 0.025});
  for (int step = 0; step < 100; ++step) {
    Tensor y = model();
    std::printf("step %d: output %.7f\n", step, y.item<float>());
    sgd.zero_grad();
    loss_of(y).backward();
    sgd.step();
  }

  const float final_output = model().item<float>();
  std::printf("\nfinal output: %.7f (the tutorial reads 0.0044996)\n", final_output);
  // Exit status tells a smoke test whether training did what the tutorial says.
  return std::fabs(final_output - 0.0044996f) < 1e-5f ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "neuron: %s\n", e.what());
  return 1;
}

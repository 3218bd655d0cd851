// SPDX-License-Identifier: MIT
// Softmax regression on Fashion-MNIST: TensorFlow's "MNIST for ML beginners" model on the
// harder, drop-in Fashion-MNIST data (Zalando's 28x28 grey clothing images, 10 classes).
//
//   logits = x·Wᵀ + b        x [batch, 784] pixels in [0, 1]; W and b start at zero
//   loss   = cross_entropy(logits, labels)      (fused log-softmax + negative log-likelihood)
//
// trained with plain gradient descent on shuffled mini-batches of 100. A linear model tops out
// around 84% here (PyTorch's equivalent reaches 83.5% after 5 epochs).
//
// Data: Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist); --data DIR
// reads the four IDX files from elsewhere. --device cuda trains on the GPU: the model is moved
// there once, each batch as it comes (samples/common/classifier.hpp).
#include <tapeflow/tapeflow.hpp>

#include <cstdio>
#include <exception>

#include "../common/classifier.hpp"
#include "../common/cli.hpp"
#include "../common/run_log.hpp"

using namespace tapeflow;

int main(int argc, char** argv) try {
  const samples::Cli cli(argc, argv, "softmax_regression", "784 -> 10 softmax regression on Fashion-MNIST",
                         {{"epochs", "5", "passes over the 60000 training images"},
                          {"lr", "0.1", "gradient-descent learning rate"},
                          {"data", io::kFashionMNISTDir, "folder with Fashion-MNIST's IDX files"},
                          {"logdir", "runs/softmax_regression", "where curves, graph, TensorBoard events and checkpoints go"},
                          {"resume", "", "continue from the checkpoint in --logdir", /*flag=*/true}});
  const Device device = cli.device();  // exits with the reason when a GPU was asked for and is not there
  const auto [train, test] = samples::load_fashion_mnist(cli.str("data"), /*flatten=*/true);

  nn::Linear model(784, 10);
  nn::init::zeros_(model.weight);  // the tutorial's start: every class equally likely
  nn::init::zeros_(model.bias);
  model.to(device);
  optim::GradientDescentOptimizer optimizer(model.parameters(), cli.number("lr"));
  std::printf("softmax regression 784 -> 10, gradient descent lr %g, batch 100, %ld epochs\n",
              cli.number("lr"), cli.integer("epochs"));
  samples::RunLog log(cli.str("logdir"));
  samples::fit(model, optimizer, train, test,
               {.epochs = static_cast<int>(cli.integer("epochs")), .batch_size = 100, .report_every = 200,
                .log = &log, .resume = cli.flag("resume")});
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "softmax_regression: %s\n", e.what());
  return 1;
}

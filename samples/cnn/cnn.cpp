// SPDX-License-Identifier: MIT
// A convolutional network on Fashion-MNIST, TensorFlow's "Deep MNIST for experts" shape:
//
//   conv(1→32, 3×3) - relu - maxpool 2 - conv(32→64, 3×3) - relu - maxpool 2
//   - flatten (64·5·5 = 1600) - linear(1600→128) - relu - linear(128→10)
//
// trained with Adam (lr 1e-3, cosine-annealed to 0 over the run) on shuffled mini-batches of 64. Convolution is im2col + one GEMM
// per layer. The model is a user-defined nn::Module, LibTorch style: submodules registered by
// name, forward() written by hand.
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

namespace {

struct ConvNet : nn::Module {
  std::shared_ptr<nn::Sequential> features = register_module(
      "features", nn::Sequential(nn::Conv2d(1, 32, 3), nn::ReLU(), nn::MaxPool2d(2),  //
                                 nn::Conv2d(32, 64, 3), nn::ReLU(), nn::MaxPool2d(2)));
  std::shared_ptr<nn::Sequential> classifier = register_module(
      "classifier", nn::Sequential(nn::Flatten(), nn::Linear(1600, 128), nn::ReLU(), nn::Linear(128, 10)));

  ConvNet() : Module("ConvNet") {}
  /// Images [N, 28, 28] get their one channel: [N, 1, 28, 28].
  Tensor forward(const Tensor& images) override {
    return classifier->forward(features->forward(images.unsqueeze(1)));
  }
};

}  // namespace

int main(int argc, char** argv) try {
  const samples::Cli cli(argc, argv, "cnn", "two-layer convolutional network on Fashion-MNIST",
                         {{"epochs", "5", "passes over the 60000 training images"},
                          {"lr", "0.001", "initial Adam learning rate (cosine-annealed to 0)"},
                          {"batch-size", "64", "examples per step"},
                          {"seed", "0", "seeds initialisation and shuffling"},
                          {"data", io::kFashionMNISTDir, "folder with Fashion-MNIST's IDX files"},
                          {"logdir", "runs/cnn", "where curves, graph, TensorBoard events and checkpoints go"},
                          {"resume", "", "continue from the checkpoint in --logdir", /*flag=*/true}});
  const Device device = cli.device();  // exits with the reason when a GPU was asked for and is not there
  const auto [train, test] = samples::load_fashion_mnist(cli.str("data"), /*flatten=*/false);

  manual_seed(static_cast<uint64_t>(cli.integer("seed", 0)));
  ConvNet model;
  model.to(device);  // before the optimizer: it keeps its state where the parameters are
  optim::Adam optimizer(model.parameters(), {.lr = cli.number("lr")});
  const int epochs = static_cast<int>(cli.integer("epochs"));
  optim::CosineAnnealingLR schedule(optimizer, epochs);
  std::printf("%s\nAdam lr %g (cosine to 0), batch %ld, %d epochs\n", model.str().c_str(), cli.number("lr"),
              cli.integer("batch-size"), epochs);
  samples::RunLog log(cli.str("logdir"));
  samples::fit(model, optimizer, train, test,
               {.epochs = epochs,
                .batch_size = cli.integer("batch-size"),
                .seed = static_cast<uint64_t>(cli.integer("seed", 0)),
                .report_every = 100,
                .after_epoch = [&] { schedule.step(); },
                .log = &log,
                .resume = cli.flag("resume")});
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cnn: %s\n", e.what());
  return 1;
}

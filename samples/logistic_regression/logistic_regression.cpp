// SPDX-License-Identifier: MIT
// Logistic regression: two Gaussian blobs in the plane, centred at (-1, -1) and (1.5, 1) with
// standard deviation 0.8, separated by a line. The model is p(class 1 | x) = sigmoid(w·x + b),
// trained by gradient descent on the binary cross-entropy, computed from the logits (stable,
// and exact at the zero start). The centres are 4 standard deviations apart, so the best
// possible accuracy is Φ(2) ≈ 97.7%. Exits 1 unless test accuracy beats 90%, so it doubles as
// a smoke test. --device cuda trains on the GPU: the data are drawn on the CPU (the same
// numbers on every device) and moved there with the model.
#include <tapeflow/tapeflow.hpp>

#include <cstdio>
#include <exception>

#include "../common/cli.hpp"

using namespace tapeflow;

namespace {

struct Blobs {
  Tensor x;  // [2n, 2]
  Tensor y;  // [2n, 1] in {0, 1}
};

/// n points of each blob, drawn on the CPU and moved to `device`.
Blobs make_blobs(int64_t n, Device device) {
  Tensor a = normal({n, 2}, 0.0, 0.8) + tensor({-1.0f, -1.0f});
  Tensor b = normal({n, 2}, 0.0, 0.8) + tensor({1.5f, 1.0f});
  return {concat({a, b}, 0).to(device), concat({zeros({n, 1}), ones({n, 1})}, 0).to(device)};
}

double accuracy(nn::Linear& model, const Blobs& d) {
  NoGradGuard off;
  Tensor predicted = (model(d.x) > 0.0).to(Float32);  // sigmoid(z) > 0.5 exactly when z > 0
  return (predicted == d.y).to(Float32).mean().item<double>();
}

}  // namespace

int main(int argc, char** argv) try {
  const samples::Cli cli(argc, argv, "logistic_regression", "two Gaussian blobs split by a sigmoid",
                         {{"steps", "200", "full-batch gradient-descent steps"},
                          {"lr", "0.5", "learning rate"},
                          {"seed", "7", "seeds the data"}});
  const Device device = cli.device();  // exits with the reason when a GPU was asked for and is not there
  manual_seed(static_cast<uint64_t>(cli.integer("seed", 0)));
  const Blobs train = make_blobs(500, device), test = make_blobs(500, device);

  nn::Linear model(2, 1);
  nn::init::zeros_(model.weight);
  nn::init::zeros_(model.bias);
  model.to(device);
  nn::BCEWithLogitsLoss criterion;
  optim::GradientDescentOptimizer optimizer(model.parameters(), cli.number("lr"));
  const long steps = cli.integer("steps");
  for (long step = 1; step <= steps; ++step) {
    Tensor loss = criterion(model(train.x), train.y);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step == 1 || step % 25 == 0 || step == steps)
      std::printf("step %4ld  loss %.4f  train accuracy %.1f%%\n", step, loss.item<double>(),
                  100.0 * accuracy(model, train));
  }
  const auto w = model.weight.to_vector<double>();
  std::printf("decision boundary: %.3f*x0 + %.3f*x1 + %.3f = 0\n", w[0], w[1], model.bias.item<double>());
  const double acc = accuracy(model, test);
  std::printf("test accuracy %.1f%%\n", 100.0 * acc);
  return acc > 0.9 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "logistic_regression: %s\n", e.what());
  return 1;
}

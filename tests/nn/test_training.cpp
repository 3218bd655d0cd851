// SPDX-License-Identifier: MIT
// End to end: a small MLP learns a fixed synthetic problem that no linear model can (XOR of
// the quadrants), through nn modules, the fused cross-entropy and an optimizer.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace tapeflow;

namespace {

struct Problem {
  Tensor x;  // [N, 2] points in [-1, 1]^2
  Tensor y;  // [N] class 1 where x0 * x1 > 0
};

Problem quadrant_xor(int64_t n) {
  Tensor x = uniform({n, 2}, -1.0, 1.0);
  Tensor y = (x.slice(1, 0, 1) * x.slice(1, 1, 2) > 0.0).to(Int64).reshape({n});
  return {x, y};
}

double accuracy(nn::Module& model, const Problem& p) {
  NoGradGuard off;
  Tensor hit = (argmax(model(p.x), 1) == p.y).to(Int64);
  return static_cast<double>(hit.sum().item<int64_t>()) / static_cast<double>(p.y.numel());
}

}  // namespace

TEST_CASE("nn: an MLP fits quadrant XOR", "[nn][training]") {
  manual_seed(1234);
  const Problem train = quadrant_xor(256);
  const Problem test = quadrant_xor(256);
  nn::Sequential model(nn::Linear(2, 32), nn::Tanh(), nn::Linear(32, 32), nn::Tanh(), nn::Linear(32, 2));
  optim::SGD sgd(model.parameters(), {.lr = 0.5});

  double first = 0, last = 0;
  for (int step = 0; step < 600; ++step) {
    sgd.zero_grad();
    Tensor loss = cross_entropy(model(train.x), train.y);
    loss.backward();
    sgd.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  INFO("loss went from " << first << " to " << last);
  CHECK(first > 0.6);  // chance level is log 2 = 0.69
  CHECK(last < 0.15);
  CHECK(accuracy(model, train) > 0.95);
  CHECK(accuracy(model, test) > 0.9);
}

TEST_CASE("nn: the same seed trains to the same weights", "[nn][training]") {
  auto train_once = [] {
    manual_seed(99);
    const Problem p = quadrant_xor(64);
    nn::Sequential model(nn::Linear(2, 8), nn::ReLU(), nn::Dropout(0.2), nn::Linear(8, 2));
    optim::SGD sgd(model.parameters(), {.lr = 0.1});
    for (int step = 0; step < 20; ++step) {
      sgd.zero_grad();
      cross_entropy(model(p.x), p.y).backward();
      sgd.step();
    }
    std::vector<float> all;
    for (const Tensor& w : model.parameters())
      for (float v : w.to_vector<float>()) all.push_back(v);
    return all;
  };
  const auto a = train_once(), b = train_once();
  REQUIRE(a.size() == 2 * 8 + 8 + 8 * 2 + 2);
  CHECK(a == b);
}

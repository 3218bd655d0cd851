// SPDX-License-Identifier: MIT
// How to unit-test your own model code: shapes, gradients (gradcheck in float64), values for
// weights fixed by hand (IsCloseTo), and determinism (SeedGuard). Built like a user's test:
// tapeflow_dep + Catch2, nothing from tapeflow's own tests.
#include <catch2/catch.hpp>  // first: testing.hpp then defines the IsCloseTo matcher
#include <tapeflow/tapeflow.hpp>
#include <tapeflow/testing.hpp>

#include <cmath>
#include <vector>

#include "residual_block.hpp"

using namespace tapeflow;
using testing::IsCloseTo;
using testing::SeedGuard;

namespace {

Tensor f64(std::vector<double> v, Shape shape) { return tensor(v, shape, {.dtype = Float64}); }

// The final loss of a few SGD steps fitting the block to a fixed random target.
std::vector<float> train_curve(uint64_t seed) {
  SeedGuard guard(seed);  // parameters, data and the whole curve follow from the seed
  ResidualBlock block(4, 8);
  Tensor x = randn({16, 4}), target = randn({16, 4});
  optim::SGD sgd(block.parameters(), {.lr = 0.1});
  std::vector<float> losses;
  for (int step = 0; step < 5; ++step) {
    sgd.zero_grad();
    Tensor loss = mse_loss(block.forward(x), target);
    loss.backward();
    sgd.step();
    losses.push_back(loss.item<float>());
  }
  return losses;
}

}  // namespace

TEST_CASE("ResidualBlock: keeps the input's shape", "[residual_block]") {
  ResidualBlock block(4, 8);
  CHECK(block.forward(zeros({5, 4})).shape() == Shape{5, 4});
  CHECK(block.forward(zeros({2, 3, 4})).shape() == Shape{2, 3, 4});
  CHECK(block.parameters().size() == 4);
  CHECK_THROWS_AS(block.forward(zeros({5, 3})), ShapeError);  // wrong feature count
}

TEST_CASE("ResidualBlock: gradients match finite differences", "[residual_block]") {
  SeedGuard seed(1);
  ResidualBlock block(3, 5);
  block.to(Float64);  // gradcheck compares in float64
  Tensor x = randn({4, 3}, {.dtype = Float64}).requires_grad_();
  // With respect to x and every parameter (fc1.weight, fc1.bias, fc2.weight, fc2.bias).
  CHECK(testing::gradcheck(block, {x}));
  CHECK(testing::gradgradcheck(block, {x}));
}

TEST_CASE("ResidualBlock: output for weights set by hand", "[residual_block]") {
  ResidualBlock block(2, 2);
  {
    NoGradGuard no_grad;  // writing into parameters is not part of the model
    block.fc1->weight.copy_(tensor({1.f, 0.f, 0.f, 1.f}, {2, 2}));
    block.fc1->bias.zero_();
    block.fc2->weight.copy_(tensor({2.f, 0.f, 0.f, -1.f}, {2, 2}));
    block.fc2->bias.copy_(tensor({0.5f, 0.f}));
  }
  Tensor x = tensor({0.f, 0.f, 1.f, -1.f}, {2, 2});
  // Row 0: 0 + [2 tanh 0, -tanh 0] + [0.5, 0]; row 1: [1, -1] + [2 tanh 1, -tanh(-1)] + [0.5, 0].
  const double t = std::tanh(1.0);
  Tensor expected = tensor({0.5f, 0.f, static_cast<float>(1.5 + 2 * t), static_cast<float>(-1 + t)}, {2, 2});
  REQUIRE_THAT(block.forward(x), IsCloseTo(expected));
  // The same in float64, against the double values, with tighter tolerances.
  block.to(Float64);
  REQUIRE_THAT(block.forward(x.to(Float64)), IsCloseTo(f64({0.5, 0, 1.5 + 2 * t, -1 + t}, {2, 2}), {.rtol = 1e-12, .atol = 1e-12}));
}

TEST_CASE("ResidualBlock: the same seed gives the same parameters and training curve", "[residual_block]") {
  StateDict a, b, c;
  {
    SeedGuard seed(42);
    a = ResidualBlock(4, 8).state_dict();
  }
  {
    SeedGuard seed(42);
    b = ResidualBlock(4, 8).state_dict();
  }
  {
    SeedGuard seed(43);
    c = ResidualBlock(4, 8).state_dict();
  }
  for (const auto& [name, value] : a) {
    INFO(name);
    CHECK_THAT(b.at(name), IsCloseTo(value, {.rtol = 0.0, .atol = 0.0}));  // exactly equal
    CHECK_FALSE(testing::allclose(c.at(name), value));
  }
  CHECK(train_curve(7) == train_curve(7));
  CHECK(train_curve(7) != train_curve(8));
}

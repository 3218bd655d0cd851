// SPDX-License-Identifier: MIT
// optim::SGD against the TensorFlow tutorial's single neuron and a scalar double reference.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace tapeflow;

namespace {

Tensor f64(std::vector<double> v, Shape shape = {}) { return tensor(v, shape, {.dtype = Float64}); }

}  // namespace

TEST_CASE("optim: SGD trains the TensorFlow tutorial's single neuron", "[optim]") {
  // x = 1.0, w = 0.8, target 0, loss = (w*x - 0)^2, plain gradient descent with rate 0.025.
  Tensor x = scalar_tensor(1.0);
  Tensor w = scalar_tensor(0.8).requires_grad_();
  Tensor target = scalar_tensor(0.0);
  REQUIRE(x.dtype() == Float32);
  REQUIRE(w.dtype() == Float32);
  optim::SGD sgd({w}, {.lr = 0.025});

  auto loss_of = [&] {
    Tensor d = w * x - target;
    return d * d;
  };

  // The tutorial's first step: gradient 1.6, then w = 0.76.
  sgd.zero_grad();
  Tensor loss = loss_of();
  CHECK(loss.item<float>() == Approx(0.64).margin(1e-6));
  loss.backward();
  REQUIRE(w.grad().defined());
  CHECK(w.grad().dtype() == Float32);
  CHECK(w.grad().item<float>() == Approx(1.6).margin(1e-6));
  sgd.step();
  CHECK(w.item<float>() == Approx(0.76).margin(1e-6));
  CHECK(w.dtype() == Float32);
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());

  // Each step multiplies w by (1 - 2 * 0.025) = 0.95, so after n updates the output is
  // 0.8 * 0.95^n: 0.0047364 after 100. The tutorial's printed 0.0044996 is 0.8 * 0.95^101, the
  // output after its loop of 100 steps that follows the first step inspected above.
  auto train = [&](int steps) {
    for (int i = 0; i < steps; ++i) {
      sgd.zero_grad();
      loss_of().backward();
      sgd.step();
    }
  };
  train(99);
  CHECK((w * x).item<float>() == Approx(0.0047364).margin(1e-6));
  train(1);
  Tensor output = w * x;
  CHECK(output.item<float>() == Approx(0.0044996).margin(1e-6));
}

TEST_CASE("optim: SGD follows a scalar double reference trajectory", "[optim]") {
  const std::vector<double> c = {1.0, -2.0, 0.5};
  std::vector<double> ref = {0.3, 0.7, -1.1};
  const double lr = 0.1;

  Tensor w = f64(ref).requires_grad_();
  Tensor ct = f64(c);
  optim::SGD sgd({w}, {.lr = lr});
  for (int step = 0; step < 5; ++step) {
    sgd.zero_grad();
    Tensor d = w - ct;
    (d * d).sum().backward();
    sgd.step();
    // Reference: f(w) = sum((w - c)^2), df/dw = 2 (w - c), w -= lr * df/dw.
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i] -= lr * 2.0 * (ref[i] - c[i]);
    auto got = w.to_vector<double>();
    INFO("step " << step);
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(got[i] == Approx(ref[i]).margin(1e-12));
  }
}

TEST_CASE("optim: SGD without zero_grad steps with accumulated gradients", "[optim]") {
  Tensor w = f64({1.0, 2.0}).requires_grad_();
  optim::SGD sgd({w}, {.lr = 0.5});
  (w * 3.0).sum().backward();
  (w * 1.0).sum().backward();  // accumulated gradient: 4
  sgd.step();
  CHECK(w.to_vector<double>() == std::vector<double>{-1.0, 0.0});
}

TEST_CASE("optim: zero_grad clears every parameter's gradient", "[optim]") {
  Tensor a = f64({1.0, 2.0}).requires_grad_();
  Tensor b = f64({3.0}).requires_grad_();
  optim::SGD sgd({a, b}, {.lr = 0.1});
  ((a * b).sum()).backward();
  REQUIRE(a.grad().defined());
  REQUIRE(b.grad().defined());
  sgd.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());

  // The next backward starts fresh.
  (a * 2.0).sum().backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{2.0, 2.0});
}

TEST_CASE("optim: learning rate can be read and changed", "[optim]") {
  Tensor w = f64({1.0}).requires_grad_();
  optim::SGD sgd({w}, {.lr = 0.25});
  CHECK(sgd.lr() == 0.25);
  CHECK(sgd.parameters().size() == 1);
  CHECK(sgd.parameters()[0].shares_storage_with(w));

  (w * 2.0).sum().backward();
  sgd.step();
  CHECK(w.item<double>() == Approx(0.5).margin(1e-15));

  sgd.set_lr(0.125);
  CHECK(sgd.lr() == 0.125);
  sgd.zero_grad();
  (w * 2.0).sum().backward();
  sgd.step();
  CHECK(w.item<double>() == Approx(0.25).margin(1e-15));

  CHECK_THROWS_AS(sgd.set_lr(-1.0), ValueError);
  CHECK_THROWS_AS(optim::SGD({w}, {.lr = -0.1}), ValueError);
}

TEST_CASE("optim: SGD refuses a parameter that does not require grad", "[optim]") {
  Tensor w = f64({1.0});
  Tensor ok = f64({1.0}).requires_grad_();
  CHECK_THROWS_AS(optim::SGD({w}, {.lr = 0.1}), ValueError);
  CHECK_THROWS_AS(optim::SGD({ok, w}, {.lr = 0.1}), ValueError);
}

TEST_CASE("optim: a parameter without a gradient is left unchanged by step", "[optim]") {
  Tensor used = f64({1.0, 2.0}).requires_grad_();
  Tensor unused = f64({0.1234567890123, -7.5}).requires_grad_();
  optim::SGD sgd({used, unused}, {.lr = 0.1});
  (used * used).sum().backward();
  REQUIRE_FALSE(unused.grad().defined());
  sgd.step();
  CHECK(unused.to_vector<double>() == std::vector<double>{0.1234567890123, -7.5});
  CHECK(used.to_vector<double>()[0] == Approx(0.8).margin(1e-15));
  CHECK(used.to_vector<double>()[1] == Approx(1.6).margin(1e-15));
}

TEST_CASE("optim: step does not record on the tape", "[optim]") {
  Tensor w = f64({1.0, 2.0}).requires_grad_();
  optim::SGD sgd({w}, {.lr = 0.1});
  const std::size_t before = live_tape_entries();
  {
    (w * w).sum().backward();
  }
  sgd.step();
  CHECK(live_tape_entries() == before);
  CHECK(w.is_leaf());
  CHECK(w.grad_fn_name() == "");
}

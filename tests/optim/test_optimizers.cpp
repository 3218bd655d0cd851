// SPDX-License-Identifier: MIT
// optim:: optimizers against plain-double references of PyTorch's documented update rules,
// parameter groups, state_dict round trips, the TensorFlow vocabulary and gradient clipping.
#include <tapeflow/tapeflow.hpp>
#include <tapeflow/testing.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../helpers.hpp"

using namespace tapeflow;
using tapeflow::test::f64;
using tapeflow::test::leaf;
using tapeflow::test::require_values;

namespace {

// The small problem: f(x) = sum(a * (x - c)^2), gradient 2 a (x - c).
const std::vector<double> kA = {1.0, 3.0, 0.5};
const std::vector<double> kC = {1.0, -2.0, 0.5};
const std::vector<double> kX0 = {0.3, 0.7, -1.1};

double grad_at(std::size_t i, double x) { return 2.0 * kA[i] * (x - kC[i]); }

Tensor loss_of(const Tensor& x) {
  Tensor d = x - tensor(kC, {}, {.dtype = x.dtype()});
  return (tensor(kA, {}, {.dtype = x.dtype()}) * d * d).sum();
}

using Trajectory = std::vector<std::vector<double>>;
using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// --- plain-double references, one element at a time, written from PyTorch's formulas ---------

Trajectory ref_sgd(const optim::SGDOptions& o, int steps) {
  std::vector<double> x = kX0, buf(x.size());
  Trajectory out;
  for (int t = 1; t <= steps; ++t) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      double d = grad_at(i, x[i]) + o.weight_decay * x[i];
      if (o.momentum != 0) {
        buf[i] = t == 1 ? d : o.momentum * buf[i] + (1 - o.dampening) * d;
        d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
      }
      x[i] -= o.lr * d;
    }
    out.push_back(x);
  }
  return out;
}

Trajectory ref_adam(const optim::AdamOptions& o, bool decoupled, int steps) {
  std::vector<double> x = kX0, m(x.size()), v(x.size()), vmax(x.size());
  const double b1 = o.betas.first, b2 = o.betas.second;
  Trajectory out;
  for (int t = 1; t <= steps; ++t) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      double g = grad_at(i, x[i]);
      if (decoupled) x[i] *= 1 - o.lr * o.weight_decay;
      else g += o.weight_decay * x[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      vmax[i] = std::max(vmax[i], v[i]);
      const double second = o.amsgrad ? vmax[i] : v[i];
      const double m_hat = m[i] / (1 - std::pow(b1, t));
      x[i] -= o.lr * m_hat / (std::sqrt(second) / std::sqrt(1 - std::pow(b2, t)) + o.eps);
    }
    out.push_back(x);
  }
  return out;
}

Trajectory ref_rmsprop(const optim::RMSpropOptions& o, int steps) {
  std::vector<double> x = kX0, s(x.size()), a(x.size()), b(x.size());
  Trajectory out;
  for (int t = 1; t <= steps; ++t) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double g = grad_at(i, x[i]) + o.weight_decay * x[i];
      s[i] = o.alpha * s[i] + (1 - o.alpha) * g * g;
      a[i] = o.alpha * a[i] + (1 - o.alpha) * g;
      const double avg = std::sqrt(o.centered ? s[i] - a[i] * a[i] : s[i]) + o.eps;
      if (o.momentum > 0) {
        b[i] = o.momentum * b[i] + g / avg;
        x[i] -= o.lr * b[i];
      } else {
        x[i] -= o.lr * g / avg;
      }
    }
    out.push_back(x);
  }
  return out;
}

Trajectory ref_adagrad(const optim::AdagradOptions& o, int steps) {
  std::vector<double> x = kX0, sum(x.size(), o.initial_accumulator_value);
  Trajectory out;
  for (int t = 1; t <= steps; ++t) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double g = grad_at(i, x[i]) + o.weight_decay * x[i];
      sum[i] += g * g;
      x[i] -= o.lr / (1 + (t - 1) * o.lr_decay) * g / (std::sqrt(sum[i]) + o.eps);
    }
    out.push_back(x);
  }
  return out;
}

struct TrajectoryCase {
  std::string name;
  Factory make;
  Trajectory expected;
};

template <typename Opt, typename Options>
Factory factory(Options o) {
  return [o](std::vector<Tensor> params) { return std::make_unique<Opt>(std::move(params), o); };
}

std::vector<TrajectoryCase> trajectory_cases() {
  using namespace optim;
  const int n = 3;
  std::vector<TrajectoryCase> cases;
  auto sgd = [&](std::string name, SGDOptions o) { cases.push_back({name, factory<SGD>(o), ref_sgd(o, n)}); };
  auto adam = [&](std::string name, AdamOptions o) {
    cases.push_back({name, factory<Adam>(o), ref_adam(o, false, n)});
  };
  auto adamw = [&](std::string name, AdamWOptions o) {
    AdamOptions as{.lr = o.lr, .betas = o.betas, .eps = o.eps, .weight_decay = o.weight_decay, .amsgrad = o.amsgrad};
    cases.push_back({name, factory<AdamW>(o), ref_adam(as, true, n)});
  };
  auto rms = [&](std::string name, RMSpropOptions o) {
    cases.push_back({name, factory<RMSprop>(o), ref_rmsprop(o, n)});
  };
  auto ada = [&](std::string name, AdagradOptions o) {
    cases.push_back({name, factory<Adagrad>(o), ref_adagrad(o, n)});
  };
  sgd("SGD plain", {.lr = 0.1});
  sgd("SGD momentum", {.lr = 0.1, .momentum = 0.9});
  sgd("SGD momentum + dampening", {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  sgd("SGD Nesterov", {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  sgd("SGD weight decay + momentum", {.lr = 0.05, .momentum = 0.5, .weight_decay = 0.1});
  adam("Adam defaults, lr 0.1", {.lr = 0.1});
  adam("Adam weight decay", {.lr = 0.1, .weight_decay = 0.1});
  adam("Adam AMSGrad", {.lr = 0.5, .betas = {0.5, 0.5}, .amsgrad = true});
  adam("Adam betas and eps", {.lr = 0.05, .betas = {0.8, 0.9}, .eps = 1e-3});
  adamw("AdamW defaults, lr 0.1", {.lr = 0.1});
  adamw("AdamW strong decay + AMSGrad", {.lr = 0.5, .betas = {0.5, 0.5}, .weight_decay = 0.3, .amsgrad = true});
  rms("RMSprop defaults", {});
  rms("RMSprop centered", {.lr = 0.01, .centered = true});
  rms("RMSprop momentum", {.lr = 0.01, .momentum = 0.9});
  rms("RMSprop centered + momentum + weight decay",
      {.lr = 0.02, .alpha = 0.9, .weight_decay = 0.1, .momentum = 0.5, .centered = true});
  ada("Adagrad defaults, lr 0.1", {.lr = 0.1});
  ada("Adagrad lr_decay + weight decay + accumulator",
      {.lr = 0.1, .lr_decay = 0.5, .weight_decay = 0.1, .initial_accumulator_value = 0.1});
  return cases;
}

void check_close(const std::vector<double>& got, const std::vector<double>& expected, double tol) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", expected " << expected[i]);
    CHECK(std::abs(got[i] - expected[i]) <= tol * (1.0 + std::abs(expected[i])));
  }
}

/// Runs `fn`, which must throw E with a message containing every one of `parts`.
template <typename E = ValueError>
void check_throws_naming(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  bool thrown = false;
  try {
    fn();
  } catch (const E& e) {
    thrown = true;
    const std::string message = e.what();
    for (const std::string& part : parts) {
      INFO("message: " << message << "\nexpected to contain: " << part);
      CHECK(message.find(part) != std::string::npos);
    }
  }
  CHECK(thrown);
}

std::vector<std::pair<std::string, Factory>> all_optimizers() {
  using namespace optim;
  return {
      {"SGD", factory<SGD>(SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true})},
      {"Adam", factory<Adam>(AdamOptions{.lr = 0.05, .amsgrad = true})},
      {"AdamW", factory<AdamW>(AdamWOptions{.lr = 0.05})},
      {"RMSprop", factory<RMSprop>(RMSpropOptions{.lr = 0.01, .momentum = 0.5, .centered = true})},
      {"Adagrad", factory<Adagrad>(AdagradOptions{.lr = 0.1, .initial_accumulator_value = 0.1})},
  };
}

}  // namespace

TEST_CASE("optim: each optimizer follows its PyTorch reference for three steps", "[optim]") {
  for (const TrajectoryCase& c : trajectory_cases()) {
    INFO(c.name);
    Tensor x = leaf(kX0);
    auto opt = c.make({x});
    REQUIRE(c.expected.size() == 3);
    for (std::size_t step = 0; step < c.expected.size(); ++step) {
      INFO("step " << step + 1);
      opt->zero_grad();
      loss_of(x).backward();
      opt->step();
      CHECK(x.dtype() == Float64);
      check_close(x.to_vector<double>(), c.expected[step], 1e-12);
    }
  }
}

TEST_CASE("optim: the variants in the table change the trajectory", "[optim]") {
  // Guards the table against variants that silently do nothing (e.g. AMSGrad never kicking in).
  using namespace optim;
  auto differs = [](const Trajectory& a, const Trajectory& b) {
    double most = 0;
    for (std::size_t s = 0; s < a.size(); ++s)
      for (std::size_t i = 0; i < a[s].size(); ++i) most = std::max(most, std::abs(a[s][i] - b[s][i]));
    return most;
  };
  CHECK(differs(ref_adam({.lr = 0.5, .betas = {0.5, 0.5}, .amsgrad = true}, false, 3),
                ref_adam({.lr = 0.5, .betas = {0.5, 0.5}}, false, 3)) > 1e-3);
  CHECK(differs(ref_sgd({.lr = 0.1, .momentum = 0.9, .nesterov = true}, 3), ref_sgd({.lr = 0.1, .momentum = 0.9}, 3)) >
        1e-3);
  CHECK(differs(ref_sgd({.lr = 0.1, .momentum = 0.9, .dampening = 0.5}, 3), ref_sgd({.lr = 0.1, .momentum = 0.9}, 3)) >
        1e-3);
  CHECK(differs(ref_rmsprop({.centered = true}, 3), ref_rmsprop({}, 3)) > 1e-4);
  CHECK(differs(ref_adam({.lr = 0.1, .weight_decay = 0.1}, false, 3), ref_adam({.lr = 0.1}, false, 3)) > 1e-4);
  AdamOptions w{.lr = 0.1, .weight_decay = 0.1};
  CHECK(differs(ref_adam(w, true, 3), ref_adam(w, false, 3)) > 1e-4);
}

TEST_CASE("optim: hand-computed steps show momentum, dampening, Nesterov and bias correction", "[optim]") {
  // f(x) = x^2, gradient 2x, x0 = 1, lr 0.1.
  auto run = [](const std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>& make, int steps) {
    Tensor x = leaf({1.0});
    auto opt = make({x});
    std::vector<double> out;
    for (int s = 0; s < steps; ++s) {
      opt->zero_grad();
      (x * x).sum().backward();
      opt->step();
      out.push_back(x.item<double>());
    }
    return out;
  };
  // Momentum 0.9: b = 2 -> x 0.8; b = 0.9*2 + 1.6 = 3.4 -> 0.46; b = 3.06 + 0.92 = 3.98 -> 0.062.
  check_close(run(factory<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9}), 3), {0.8, 0.46, 0.062}, 1e-14);
  // Dampening 0.5 skips the first step: b = 2 -> 0.8; b = 1.8 + 0.8 = 2.6 -> 0.54;
  // b = 2.34 + 0.54 = 2.88 -> 0.252.
  check_close(run(factory<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.5}), 3),
              {0.8, 0.54, 0.252}, 1e-14);
  // Nesterov: d = 2 + 0.9*2 = 3.8 -> 0.62; b = 1.8 + 1.24 = 3.04, d = 1.24 + 2.736 -> 0.2224.
  check_close(run(factory<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true}), 2),
              {0.62, 0.2224}, 1e-14);
  // Adam: bias correction makes the first step lr * g / (|g| + eps) = 0.1 * 2 / (2 + 1e-8).
  check_close(run(factory<optim::Adam>(optim::AdamOptions{.lr = 0.1}), 3),
              {0.9000000005, 0.8004122286917927, 0.7015862729460302}, 1e-14);
  // Adagrad: sum = 4 -> x = 1 - 0.1 * 2 / 2 = 0.9; sum = 4 + 3.24 -> 0.9 - 0.1 * 1.8 / sqrt(7.24)
  // (eps = 1e-10 is below the tolerance).
  check_close(run(factory<optim::Adagrad>(optim::AdagradOptions{.lr = 0.1}), 2),
              {0.9, 0.9 - 0.1 * 1.8 / std::sqrt(7.24)}, 1e-9);
}

TEST_CASE("optim: each optimizer converges on a convex quadratic in float32", "[optim]") {
  using namespace optim;
  struct Case {
    std::string name;
    Factory make;
    int steps;
    double tol;
  };
  const std::vector<Case> cases = {
      {"SGD", factory<SGD>(SGDOptions{.lr = 0.05}), 300, 1e-4},
      {"SGD Nesterov", factory<SGD>(SGDOptions{.lr = 0.02, .momentum = 0.9, .nesterov = true}), 500, 1e-4},
      {"Adam", factory<Adam>(AdamOptions{.lr = 0.02}), 2000, 1e-3},
      {"Adam AMSGrad", factory<Adam>(AdamOptions{.lr = 0.02, .amsgrad = true}), 2000, 1e-3},
      // Decoupled decay keeps pulling towards 0, so AdamW settles more slowly near c.
      {"AdamW", factory<AdamW>(AdamWOptions{.lr = 0.02}), 2000, 1e-2},
      {"RMSprop", factory<RMSprop>(RMSpropOptions{.lr = 1e-3}), 4000, 1e-2},
      {"RMSprop centered + momentum", factory<RMSprop>(RMSpropOptions{.lr = 1e-3, .momentum = 0.5, .centered = true}),
       3000, 1e-2},
      {"Adagrad", factory<Adagrad>(AdagradOptions{.lr = 0.5}), 1000, 1e-4},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor x = tensor(kX0, {}, {.dtype = Float32}).requires_grad_();
    auto opt = c.make({x});
    const double start = loss_of(x).item<double>();
    for (int s = 0; s < c.steps; ++s) opt->minimize([&] { return loss_of(x); });
    CHECK(x.dtype() == Float32);
    CHECK(loss_of(x).item<double>() < start * 1e-3);
    std::vector<double> got = x.to_vector<double>();
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("element " << i << ": " << got[i] << " vs " << kC[i]);
      CHECK(std::abs(got[i] - kC[i]) <= c.tol);
    }
  }
}

TEST_CASE("optim: float32 parameters keep float32 state", "[optim]") {
  for (const auto& [name, make] : all_optimizers()) {
    INFO(name);
    Tensor x = tensor(kX0, {}, {.dtype = Float32}).requires_grad_();
    auto opt = make({x});
    opt->minimize([&] { return loss_of(x); });
    CHECK(x.dtype() == Float32);
    for (const auto& [key, value] : opt->state_dict()) {
      INFO(key);
      if (key.rfind("state.", 0) != 0) continue;
      if (key.size() > 5 && key.substr(key.size() - 5) == ".step") CHECK(value.dtype() == Float64);
      else CHECK(value.dtype() == Float32);
    }
  }
}

TEST_CASE("optim: a parameter without a gradient is neither moved nor given state", "[optim]") {
  for (const auto& [name, make] : all_optimizers()) {
    INFO(name);
    Tensor used = leaf(kX0);
    Tensor unused = leaf({0.25, -0.5});
    auto opt = make({used, unused});
    for (int s = 0; s < 2; ++s) opt->minimize([&] { return loss_of(used); });
    CHECK(unused.to_vector<double>() == std::vector<double>{0.25, -0.5});
    CHECK(used.to_vector<double>() != kX0);
    StateDict sd = opt->state_dict();
    if (name == "Adagrad") {
      // Adagrad creates its state up front, like PyTorch; the unused one stays at step 0.
      CHECK(sd.at("state.1.step").item<double>() == 0.0);
      CHECK(sd.at("state.0.step").item<double>() == 2.0);
    } else {
      CHECK(sd.count("state.1.step") == 0);
      CHECK(sd.count("state.1.momentum_buffer") == 0);
      CHECK(sd.count("state.1.exp_avg") == 0);
    }
  }
}

TEST_CASE("optim: steps do not record on the tape", "[optim]") {
  for (const auto& [name, make] : all_optimizers()) {
    INFO(name);
    Tensor x = leaf(kX0);
    auto opt = make({x});
    const std::size_t before = live_tape_entries();
    loss_of(x).backward();
    opt->step();
    opt->step();
    CHECK(live_tape_entries() == before);
    CHECK(x.is_leaf());
    CHECK(x.requires_grad());
    CHECK(x.grad_fn_name() == "");
  }
}

TEST_CASE("optim: parameter groups have their own options", "[optim]") {
  Tensor a = leaf({1.0, 2.0});
  Tensor b = leaf({3.0});
  Tensor c = leaf({-1.0});
  optim::SGD sgd({{{a}}, {{b}, {.lr = 0.01}}, {{c}, {.lr = 0.5, .momentum = 0.9}}}, {.lr = 0.1});
  REQUIRE(sgd.num_param_groups() == 3);
  CHECK(sgd.lr() == 0.1);
  CHECK(sgd.lr(0) == 0.1);
  CHECK(sgd.lr(1) == 0.01);
  CHECK(sgd.lr(2) == 0.5);
  CHECK(sgd.options(2).momentum == 0.9);
  CHECK(sgd.options(1).momentum == 0.0);
  CHECK(sgd.parameters().size() == 3);
  CHECK(sgd.parameters(1).size() == 1);
  CHECK(sgd.parameters(1)[0].shares_storage_with(b));

  auto loss = [&] { return (a * a).sum() + (b * b).sum() + (c * c).sum(); };
  sgd.minimize(loss);
  require_values(a, {1.0 - 0.1 * 2.0, 2.0 - 0.1 * 4.0}, 1e-15);
  require_values(b, {3.0 - 0.01 * 6.0}, 1e-15);
  require_values(c, {-1.0 + 0.5 * 2.0}, 1e-15);
  CHECK(sgd.state_dict().count("state.2.momentum_buffer") == 1);
  CHECK(sgd.state_dict().count("state.0.momentum_buffer") == 0);

  // set_lr sets every group; set_lr(g, lr) one.
  sgd.set_lr(0.2);
  CHECK(sgd.lr(0) == 0.2);
  CHECK(sgd.lr(1) == 0.2);
  CHECK(sgd.lr(2) == 0.2);
  sgd.set_lr(1, 0.3);
  CHECK(sgd.lr(1) == 0.3);
  CHECK(sgd.options(1).lr == 0.3);
  CHECK(sgd.lr(0) == 0.2);
  CHECK_THROWS_AS(sgd.lr(3), ValueError);
  CHECK_THROWS_AS(sgd.set_lr(3, 0.1), ValueError);
  CHECK_THROWS_AS(sgd.set_lr(0, -0.1), ValueError);
}

TEST_CASE("optim: Adam groups take the defaults or their own options", "[optim]") {
  std::vector<Tensor> params_a = {leaf(kX0)};
  std::vector<Tensor> params_b = {leaf(kX0)};
  optim::Adam adam({{params_a}, {params_b, {.lr = 1e-4}}}, {.lr = 0.1, .amsgrad = true});
  CHECK(adam.options(0).amsgrad);
  CHECK(adam.options(0).lr == 0.1);
  CHECK_FALSE(adam.options(1).amsgrad);  // a group's options are complete, like LibTorch's
  CHECK(adam.options(1).lr == 1e-4);
  adam.minimize([&] { return loss_of(params_a[0]) + loss_of(params_b[0]); });
  // Adam's first step moves each element by about lr, whatever the gradient's size.
  std::vector<double> a = params_a[0].to_vector<double>(), b = params_b[0].to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(std::abs(a[i] - kX0[i]) == Approx(0.1).epsilon(1e-6));
    CHECK(std::abs(b[i] - kX0[i]) == Approx(1e-4).epsilon(1e-6));
  }
}

TEST_CASE("optim: bad parameter groups are refused", "[optim]") {
  Tensor a = leaf({1.0});
  check_throws_naming([&] { optim::SGD({{{a}}, {{a}, {.lr = 0.1}}}); }, {"SGD: ", "more than once"});
  check_throws_naming([&] { optim::Adam({a, a}); }, {"Adam: ", "more than once"});
  check_throws_naming([&] { optim::RMSprop(std::vector<optim::ParamGroup<optim::RMSpropOptions>>{}); },
                      {"RMSprop: ", "at least one parameter group"});
  check_throws_naming([&] { optim::Adagrad({a, f64({1.0})}); }, {"Adagrad: ", "parameter 1"});
  check_throws_naming([&] { optim::Adam({{{a}}, {{f64({2.0})}, {.lr = 0.1}}}); }, {"Adam: ", "group 1"});
}

TEST_CASE("optim: bad options throw ValueError naming the optimizer and the option", "[optim]") {
  using namespace optim;
  Tensor w = leaf({1.0});
  struct Case {
    std::string name;
    std::function<void()> make;
    std::vector<std::string> parts;
  };
  const double nan = std::nan("");
  const std::vector<Case> cases = {
      {"SGD negative lr", [&] { SGD({w}, {.lr = -0.1}); }, {"SGD: ", "learning rate", "-0.1"}},
      {"SGD NaN lr", [&] { SGD({w}, {.lr = nan}); }, {"SGD: ", "learning rate"}},
      {"SGD negative momentum", [&] { SGD({w}, {.momentum = -0.5}); }, {"SGD: ", "momentum"}},
      {"SGD negative weight decay", [&] { SGD({w}, {.weight_decay = -1}); }, {"SGD: ", "weight_decay"}},
      {"SGD Nesterov without momentum", [&] { SGD({w}, {.nesterov = true}); }, {"SGD: ", "Nesterov"}},
      {"SGD Nesterov with dampening", [&] { SGD({w}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}); },
       {"SGD: ", "Nesterov", "dampening"}},
      {"GradientDescentOptimizer negative lr", [&] { GradientDescentOptimizer({w}, -1.0); },
       {"GradientDescentOptimizer: ", "learning rate"}},
      {"Adam negative lr", [&] { Adam({w}, {.lr = -1e-3}); }, {"Adam: ", "learning rate"}},
      {"Adam beta1 = 1", [&] { Adam({w}, {.betas = {1.0, 0.999}}); }, {"Adam: ", "beta1", "[0, 1)"}},
      {"Adam beta1 < 0", [&] { Adam({w}, {.betas = {-0.1, 0.999}}); }, {"Adam: ", "beta1"}},
      {"Adam beta2 > 1", [&] { Adam({w}, {.betas = {0.9, 1.5}}); }, {"Adam: ", "beta2", "1.5"}},
      {"Adam negative eps", [&] { Adam({w}, {.eps = -1e-8}); }, {"Adam: ", "eps"}},
      {"Adam negative weight decay", [&] { Adam({w}, {.weight_decay = -0.1}); }, {"Adam: ", "weight_decay"}},
      {"Adam group options", [&] { Adam({{{w}, {.betas = {0.9, 1.0}}}}); }, {"Adam: ", "beta2"}},
      {"AdamW beta2 = 1", [&] { AdamW({w}, {.betas = {0.9, 1.0}}); }, {"AdamW: ", "beta2"}},
      {"AdamW negative weight decay", [&] { AdamW({w}, {.weight_decay = -0.01}); }, {"AdamW: ", "weight_decay"}},
      {"RMSprop alpha > 1", [&] { RMSprop({w}, {.alpha = 1.5}); }, {"RMSprop: ", "alpha"}},
      {"RMSprop negative momentum", [&] { RMSprop({w}, {.momentum = -0.1}); }, {"RMSprop: ", "momentum"}},
      {"RMSprop negative eps", [&] { RMSprop({w}, {.eps = -1}); }, {"RMSprop: ", "eps"}},
      {"RMSprop negative lr", [&] { RMSprop({w}, {.lr = -1}); }, {"RMSprop: ", "learning rate"}},
      {"Adagrad negative lr_decay", [&] { Adagrad({w}, {.lr_decay = -1}); }, {"Adagrad: ", "lr_decay"}},
      {"Adagrad negative accumulator", [&] { Adagrad({w}, {.initial_accumulator_value = -1}); },
       {"Adagrad: ", "initial_accumulator_value"}},
      {"Adagrad negative eps", [&] { Adagrad({w}, {.eps = -1}); }, {"Adagrad: ", "eps"}},
      {"set_lr negative", [&] { Adam adam({w}); adam.set_lr(-0.5); }, {"Adam: ", "learning rate"}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    check_throws_naming(c.make, c.parts);
  }
}

TEST_CASE("optim: default options are PyTorch's", "[optim]") {
  using namespace optim;
  Tensor w = leaf({1.0});
  AdamOptions adam = Adam({w}).options();
  CHECK(adam.lr == 1e-3);
  CHECK(adam.betas.first == 0.9);
  CHECK(adam.betas.second == 0.999);
  CHECK(adam.eps == 1e-8);
  CHECK(adam.weight_decay == 0.0);
  CHECK_FALSE(adam.amsgrad);
  AdamOptions adamw = AdamW({w}).options();
  CHECK(adamw.weight_decay == 1e-2);
  CHECK(adamw.lr == 1e-3);
  RMSpropOptions rms = RMSprop({w}).options();
  CHECK(rms.lr == 1e-2);
  CHECK(rms.alpha == 0.99);
  CHECK(rms.eps == 1e-8);
  CHECK(rms.momentum == 0.0);
  CHECK_FALSE(rms.centered);
  AdagradOptions ada = Adagrad({w}).options();
  CHECK(ada.lr == 1e-2);
  CHECK(ada.lr_decay == 0.0);
  CHECK(ada.initial_accumulator_value == 0.0);
  CHECK(ada.eps == 1e-10);
  CHECK(Adam({w}).name() == "Adam");
  CHECK(AdamW({w}).name() == "AdamW");
}

TEST_CASE("optim: state_dict round trip continues training bit-identically", "[optim]") {
  for (const auto& [name, make] : all_optimizers()) {
    INFO(name);
    Tensor x = leaf(kX0);
    Tensor y = leaf({0.5, -0.25});
    auto loss = [&](const Tensor& p, const Tensor& q) { return loss_of(p) + (q * q * q * q).sum(); };
    auto opt = make({x, y});
    for (int s = 0; s < 3; ++s) opt->minimize([&] { return loss(x, y); });
    opt->set_lr(opt->lr() * 0.5);  // as a schedule would: the lr must travel too
    const StateDict saved = opt->state_dict();
    const std::vector<double> x3 = x.to_vector<double>(), y3 = y.to_vector<double>();
    const std::vector<double> saved_x = [&] {
      for (const auto& [k, v] : saved)
        if (k.rfind("state.0.", 0) == 0 && v.numel() == 3) return v.to_vector<double>();
      return std::vector<double>{};
    }();
    for (int s = 0; s < 2; ++s) opt->minimize([&] { return loss(x, y); });

    Tensor x2 = leaf(x3);
    Tensor y2 = leaf(y3);
    auto fresh = make({x2, y2});
    fresh->load_state_dict(saved);
    CHECK(fresh->lr() == opt->lr());
    for (int s = 0; s < 2; ++s) fresh->minimize([&] { return loss(x2, y2); });
    CHECK(x2.to_vector<double>() == x.to_vector<double>());
    CHECK(y2.to_vector<double>() == y.to_vector<double>());
    CHECK(fresh->state_dict().size() == opt->state_dict().size());

    // The saved tensors are copies: the two later steps did not change them.
    for (const auto& [k, v] : saved)
      if (k.rfind("state.0.", 0) == 0 && v.numel() == 3) {
        CHECK(v.to_vector<double>() == saved_x);
        break;
      }
  }
}

TEST_CASE("optim: state_dict names and values", "[optim]") {
  Tensor x = leaf(kX0);
  optim::Adam adam({x}, {.lr = 0.1, .amsgrad = true});
  for (int s = 0; s < 3; ++s) adam.minimize([&] { return loss_of(x); });
  StateDict sd = adam.state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"param_groups.0.lr", "param_groups.0.params", "state.0.exp_avg",
                                         "state.0.exp_avg_sq", "state.0.max_exp_avg_sq", "state.0.step"});
  CHECK(sd.at("state.0.step").dim() == 0);
  CHECK(sd.at("state.0.step").dtype() == Float64);
  CHECK(sd.at("state.0.step").item<double>() == 3.0);
  CHECK(sd.at("param_groups.0.lr").dim() == 0);
  CHECK(sd.at("param_groups.0.lr").dtype() == Float64);
  CHECK(sd.at("param_groups.0.lr").item<double>() == 0.1);
  CHECK(sd.at("param_groups.0.params").to_vector<int64_t>() == std::vector<int64_t>{0});
  // exp_avg after three steps: the plain-double reference's first moment.
  std::vector<double> x_ref = kX0, m(3);
  for (int t = 0; t < 3; ++t)
    for (std::size_t i = 0; i < 3; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * grad_at(i, x_ref[i]);
      x_ref[i] = ref_adam({.lr = 0.1, .amsgrad = true}, false, t + 1)[static_cast<std::size_t>(t)][i];
    }
  check_close(sd.at("state.0.exp_avg").to_vector<double>(), m, 1e-12);
}

TEST_CASE("optim: load_state_dict refuses corrupt state and changes nothing", "[optim]") {
  Tensor x = leaf(kX0);
  Tensor y = leaf({0.5, -0.25});
  optim::Adam adam({x, y}, {.lr = 0.1});
  for (int s = 0; s < 2; ++s) adam.minimize([&] { return loss_of(x) + (y * y).sum(); });
  const StateDict good = adam.state_dict();

  Tensor x2 = leaf(kX0);
  Tensor y2 = leaf({0.5, -0.25});
  optim::Adam target({x2, y2}, {.lr = 0.1});
  target.minimize([&] { return loss_of(x2) + (y2 * y2).sum(); });
  const StateDict before = target.state_dict();

  struct Case {
    std::string name;
    std::function<void(StateDict&)> corrupt;
    std::string key;
  };
  const std::vector<Case> cases = {
      {"missing buffer", [](StateDict& d) { d.erase("state.0.exp_avg"); }, "state.0.exp_avg"},
      {"missing step", [](StateDict& d) { d.erase("state.1.step"); }, "state.1.step"},
      {"missing lr", [](StateDict& d) { d.erase("param_groups.0.lr"); }, "param_groups.0.lr"},
      {"missing params", [](StateDict& d) { d.erase("param_groups.0.params"); }, "param_groups.0.params"},
      {"buffer shape", [](StateDict& d) { d["state.1.exp_avg_sq"] = f64({1.0, 2.0, 3.0}); }, "state.1.exp_avg_sq"},
      {"step shape", [](StateDict& d) { d["state.0.step"] = f64({1.0, 2.0}); }, "state.0.step"},
      {"negative step", [](StateDict& d) { d["state.0.step"] = scalar_tensor(-1.0, {.dtype = Float64}); },
       "state.0.step"},
      {"negative lr", [](StateDict& d) { d["param_groups.0.lr"] = scalar_tensor(-1.0, {.dtype = Float64}); },
       "param_groups.0.lr"},
      {"unknown buffer", [](StateDict& d) { d["state.0.momentum_buffer"] = f64(kX0); }, "state.0.momentum_buffer"},
      {"unknown parameter", [](StateDict& d) { d["state.7.exp_avg"] = f64(kX0); }, "state.7.exp_avg"},
      {"unknown group", [](StateDict& d) { d["param_groups.1.lr"] = scalar_tensor(0.1, {.dtype = Float64}); },
       "param_groups.1.lr"},
      {"unknown key", [](StateDict& d) { d["weight"] = f64(kX0); }, "weight"},
      {"other grouping", [](StateDict& d) { d["param_groups.0.params"] = tensor({int64_t{0}}); },
       "param_groups.0.params"},
      {"undefined tensor", [](StateDict& d) { d["state.0.exp_avg"] = Tensor(); }, "state.0.exp_avg"},
      {"integer buffer", [](StateDict& d) { d["state.0.exp_avg"] = tensor({int64_t{1}, int64_t{2}, int64_t{3}}); },
       "state.0.exp_avg"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    StateDict bad = good;
    // Valid entries come first in the map ("param_groups" < "state"), so a half-applying load
    // would already have taken the new lr before reaching the bad key.
    bad["param_groups.0.lr"] = scalar_tensor(0.75, {.dtype = Float64});
    c.corrupt(bad);
    check_throws_naming([&] { target.load_state_dict(bad); }, {"Adam.load_state_dict: ", "'" + c.key + "'"});
    CHECK(target.lr() == 0.1);
    StateDict now = target.state_dict();
    REQUIRE(now.size() == before.size());
    for (const auto& [k, v] : before) {
      INFO(k);
      REQUIRE(now.count(k) == 1);
      CHECK(now.at(k).to_vector<double>() == v.to_vector<double>());
    }
  }
  // A dict without any state for a parameter is fine: that parameter starts afresh.
  StateDict partial = good;
  for (const char* k : {"state.1.step", "state.1.exp_avg", "state.1.exp_avg_sq"}) partial.erase(k);
  target.load_state_dict(partial);
  CHECK(target.state_dict().count("state.1.step") == 0);
  CHECK(target.state_dict().at("state.0.step").item<double>() == 2.0);
}

TEST_CASE("optim: minimize zeroes, evaluates, back-propagates and steps", "[optim]") {
  Tensor w = leaf({0.3, 0.7, -1.1});
  optim::SGD sgd({w}, {.lr = 0.1});
  (w * 100.0).sum().backward();  // a stale gradient minimize must clear first
  int calls = 0;
  Tensor loss = sgd.minimize([&] {
    ++calls;
    return loss_of(w);
  });
  CHECK(calls == 1);
  double expected_loss = 0;
  std::vector<double> expected_w = kX0;
  for (std::size_t i = 0; i < 3; ++i) {
    expected_loss += kA[i] * (kX0[i] - kC[i]) * (kX0[i] - kC[i]);
    expected_w[i] -= 0.1 * grad_at(i, kX0[i]);
  }
  CHECK(loss.item<double>() == Approx(expected_loss).epsilon(1e-14));
  require_values(w, expected_w, 1e-15);
  REQUIRE(w.grad().defined());
  require_values(w.grad(), {grad_at(0, kX0[0]), grad_at(1, kX0[1]), grad_at(2, kX0[2])}, 1e-15);
  CHECK_THROWS_AS(sgd.minimize([] { return Tensor(); }), ValueError);
}

TEST_CASE("optim: compute_gradients and apply_gradients, TensorFlow style", "[optim]") {
  Tensor w = leaf({1.0, 2.0});
  Tensor b = leaf({0.5});
  Tensor unused = leaf({7.0});
  optim::SGD sgd({w, b, unused}, {.lr = 0.5});

  Tensor loss = (w * w).sum() + b.sum() * 3.0;
  auto pairs = sgd.compute_gradients(loss);
  REQUIRE(pairs.size() == 3);
  CHECK(pairs[0].second.shares_storage_with(w));
  CHECK(pairs[1].second.shares_storage_with(b));
  require_values(pairs[0].first, {2.0, 4.0});
  require_values(pairs[1].first, {3.0});
  CHECK_FALSE(pairs[2].first.defined());  // the loss does not depend on it
  CHECK_FALSE(w.grad().defined());        // .grad() untouched

  b.set_grad(f64({100.0}));  // must survive apply_gradients, and not be used by it
  sgd.apply_gradients(pairs);
  require_values(w, {0.0, 0.0});
  require_values(b, {-1.0});
  require_values(unused, {7.0});
  CHECK_FALSE(w.grad().defined());
  require_values(b.grad(), {100.0});

  // A subset: only the listed parameter moves, even though the other has a .grad().
  Tensor loss2 = (b * b).sum() + (w + 1.0).sum();
  auto only_w = sgd.compute_gradients(loss2, {w});
  REQUIRE(only_w.size() == 1);
  sgd.apply_gradients(only_w);
  require_values(w, {-0.5, -0.5});
  require_values(b, {-1.0});

  // Gradients computed elsewhere.
  sgd.apply_gradients({{f64({4.0}), unused}});
  require_values(unused, {5.0});

  check_throws_naming([&] { sgd.apply_gradients({{f64({1.0}), leaf({1.0})}}); },
                      {"SGD.apply_gradients: ", "not a parameter"});
  check_throws_naming([&] { sgd.apply_gradients({{f64({1.0}), b}, {f64({1.0}), b}}); },
                      {"SGD.apply_gradients: ", "more than once"});
  check_throws_naming<ShapeError>([&] { sgd.apply_gradients({{f64({1.0, 2.0, 3.0}), w}}); },
                                  {"SGD.apply_gradients: ", "[3]"});
  require_values(w, {-0.5, -0.5});
}

TEST_CASE("optim: compute_gradients then apply_gradients equals minimize", "[optim]") {
  for (const auto& [name, make] : all_optimizers()) {
    INFO(name);
    Tensor x = leaf(kX0);
    Tensor x2 = leaf(kX0);
    auto a = make({x});
    auto b = make({x2});
    for (int s = 0; s < 3; ++s) {
      a->minimize([&] { return loss_of(x); });
      b->apply_gradients(b->compute_gradients(loss_of(x2)));
    }
    CHECK(x.to_vector<double>() == x2.to_vector<double>());
  }
}

TEST_CASE("optim: GradientDescentOptimizer is plain SGD with TensorFlow's name", "[optim]") {
  Tensor w = leaf({1.0, -2.0});
  optim::GradientDescentOptimizer opt({w}, 0.5);
  CHECK(opt.lr() == 0.5);
  CHECK(opt.name() == "GradientDescentOptimizer");
  CHECK(opt.options().momentum == 0.0);
  opt.minimize([&] { return (w * w).sum(); });
  require_values(w, {1.0 - 0.5 * 2.0, -2.0 + 0.5 * 4.0});
  optim::Optimizer& base = opt;  // usable through the base class
  base.minimize([&] { return (w * 3.0).sum(); });
  require_values(w, {-1.5, -1.5});
}

TEST_CASE("optim: clip_grad_norm_ returns the total norm and scales the gradients", "[optim]") {
  auto make = [] {
    Tensor a = leaf({0.0, 0.0});
    Tensor b = leaf({0.0});
    a.set_grad(f64({3.0, 4.0}));
    b.set_grad(f64({12.0}));
    return std::vector<Tensor>{a, b, leaf({1.0})};  // the third has no gradient
  };
  {
    auto ps = make();
    const double norm = optim::clip_grad_norm_(ps, 6.5);
    CHECK(norm == Approx(13.0).epsilon(1e-15));
    const double k = 6.5 / (13.0 + 1e-6);
    require_values(ps[0].grad(), {3.0 * k, 4.0 * k}, 1e-15);
    require_values(ps[1].grad(), {12.0 * k}, 1e-15);
    CHECK_FALSE(ps[2].grad().defined());
  }
  {
    auto ps = make();  // a mild clip, by 10/13
    CHECK(optim::clip_grad_norm_(ps, 10.0) == Approx(13.0).epsilon(1e-15));
    require_values(ps[0].grad(), {3.0 * 10.0 / (13.0 + 1e-6), 4.0 * 10.0 / (13.0 + 1e-6)}, 1e-15);
    CHECK(optim::clip_grad_norm_(ps, 10.0) == Approx(10.0).epsilon(1e-6));
  }
  {
    auto ps = make();  // a non-finite norm is reported and leaves the gradients alone
    ps[1].set_grad(f64({INFINITY}));
    CHECK(std::isinf(optim::clip_grad_norm_(ps, 1.0)));
    require_values(ps[0].grad(), {3.0, 4.0});
  }
  {
    auto ps = make();  // under the limit: unchanged
    CHECK(optim::clip_grad_norm_(ps, 20.0) == Approx(13.0).epsilon(1e-15));
    require_values(ps[0].grad(), {3.0, 4.0});
    require_values(ps[1].grad(), {12.0});
  }
  {
    auto ps = make();
    CHECK(optim::clip_grad_norm_(ps, 100.0, 1.0) == Approx(19.0).epsilon(1e-15));
    CHECK(optim::clip_grad_norm_(ps, 100.0, INFINITY) == Approx(12.0).epsilon(1e-15));
    CHECK(optim::clip_grad_norm_(ps, 100.0, 3.0) == Approx(std::cbrt(27.0 + 64.0 + 1728.0)).epsilon(1e-14));
    CHECK(optim::clip_grad_norm_(ps, 6.0, INFINITY) == Approx(12.0).epsilon(1e-15));
    require_values(ps[1].grad(), {12.0 * 6.0 / (12.0 + 1e-6)}, 1e-15);
  }
  {
    Tensor w = tensor({3.0f, 4.0f}).requires_grad_();
    w.set_grad(tensor({3.0f, 4.0f}));
    CHECK(optim::clip_grad_norm_({w}, 1.0) == Approx(5.0).epsilon(1e-12));
    CHECK(w.grad().dtype() == Float32);
    require_values(w.grad(), {0.6, 0.8}, 1e-6);
  }
  CHECK(optim::clip_grad_norm_({leaf({1.0})}, 1.0) == 0.0);
  check_throws_naming([] { optim::clip_grad_norm_({}, -1.0); }, {"clip_grad_norm_: ", "max_norm"});
  check_throws_naming([] { optim::clip_grad_norm_({}, 1.0, 0.0); }, {"clip_grad_norm_: ", "norm_type"});
}

TEST_CASE("optim: clip_grad_value_ clamps every gradient", "[optim]") {
  Tensor a = leaf({0.0, 0.0, 0.0});
  Tensor b = leaf({0.0});
  Tensor none = leaf({0.0});
  a.set_grad(f64({-3.0, 0.5, 2.0}));
  b.set_grad(f64({-0.25}));
  optim::clip_grad_value_({a, b, none}, 1.0);
  require_values(a.grad(), {-1.0, 0.5, 1.0});
  require_values(b.grad(), {-0.25});
  CHECK_FALSE(none.grad().defined());
  check_throws_naming([&] { optim::clip_grad_value_({a}, -1.0); }, {"clip_grad_value_: ", "clip_value"});
}

TEST_CASE("optim: operator<< prints PyTorch's repr, each group's options in struct order", "[optim]") {
  auto text = [](const optim::Optimizer& opt) {
    std::ostringstream os;
    os << opt;  // through the base class, as a REPL user holding an Optimizer& prints it
    return os.str();
  };
  Tensor a = leaf({1.0, 2.0});
  Tensor b = leaf({3.0});

  optim::SGD sgd({a}, {.lr = 0.1, .momentum = 0.9});
  CHECK(text(sgd) ==
        "SGD (\nParameter Group 0\n    lr: 0.1\n    momentum: 0.9\n    dampening: 0\n    weight_decay: 0\n"
        "    nesterov: false\n)");
  CHECK(sgd.str() == text(sgd));
  sgd.set_lr(0.025);  // the current learning rate, not the constructor's
  CHECK(text(sgd).find("    lr: 0.025\n") != std::string::npos);

  // Two groups: a blank line between them, like PyTorch; defaults print in shortest form.
  optim::Adam adam({{{a}}, {{b}, {.lr = 1e-4, .amsgrad = true}}});
  CHECK(text(adam) ==
        "Adam (\nParameter Group 0\n    lr: 0.001\n    betas: (0.9, 0.999)\n    eps: 1e-08\n"
        "    weight_decay: 0\n    amsgrad: false\n"
        "\nParameter Group 1\n    lr: 0.0001\n    betas: (0.9, 0.999)\n    eps: 1e-08\n"
        "    weight_decay: 0\n    amsgrad: true\n)");

  CHECK(text(optim::AdamW({a})) ==
        "AdamW (\nParameter Group 0\n    lr: 0.001\n    betas: (0.9, 0.999)\n    eps: 1e-08\n"
        "    weight_decay: 0.01\n    amsgrad: false\n)");
  CHECK(text(optim::RMSprop({a}, {.centered = true})) ==
        "RMSprop (\nParameter Group 0\n    lr: 0.01\n    alpha: 0.99\n    eps: 1e-08\n    weight_decay: 0\n"
        "    momentum: 0\n    centered: true\n)");
  CHECK(text(optim::Adagrad({a}, {.lr_decay = 0.5})) ==
        "Adagrad (\nParameter Group 0\n    lr: 0.01\n    lr_decay: 0.5\n    weight_decay: 0\n"
        "    initial_accumulator_value: 0\n    eps: 1e-10\n)");
  CHECK(text(optim::GradientDescentOptimizer({a}, 0.5)) ==
        "GradientDescentOptimizer (\nParameter Group 0\n    lr: 0.5\n    momentum: 0\n    dampening: 0\n"
        "    weight_decay: 0\n    nesterov: false\n)");
}

// Adam and AdamW update a contiguous parameter in one fused pass (optim/detail/fused_update)
// and anything else through tensor ops; the two must agree bit for bit, or a parameter's
// trajectory would depend on its memory layout.
TEST_CASE("optim: Adam's fused update gives the tensor-op update's exact bits", "[optim]") {
  for (const bool amsgrad : {false, true}) {
    for (const double wd : {0.0, 0.1}) {
      for (const bool decoupled : {false, true}) {
        INFO((decoupled ? "AdamW" : "Adam") << " amsgrad " << amsgrad << " weight_decay " << wd);
        manual_seed(11);
        const Tensor start = randn({5, 3});
        Tensor fused = start.clone().requires_grad_();
        // The same values stored column by column: not contiguous, so the tensor-op path.
        Tensor strided = start.t().contiguous().t().requires_grad_();
        REQUIRE(!strided.is_contiguous());
        std::unique_ptr<optim::Optimizer> a, b;
        if (decoupled) {
          const optim::AdamWOptions o{.lr = 0.05, .weight_decay = wd, .amsgrad = amsgrad};
          a = std::make_unique<optim::AdamW>(std::vector<Tensor>{fused}, o);
          b = std::make_unique<optim::AdamW>(std::vector<Tensor>{strided}, o);
        } else {
          const optim::AdamOptions o{.lr = 0.05, .weight_decay = wd, .amsgrad = amsgrad};
          a = std::make_unique<optim::Adam>(std::vector<Tensor>{fused}, o);
          b = std::make_unique<optim::Adam>(std::vector<Tensor>{strided}, o);
        }
        const Tensor target = randn({5, 3});
        for (int step = 0; step < 5; ++step) {
          // A loss whose gradient changes size from step to step.
          a->minimize([&] { return sum(tanh(fused * 3.0) * target); });
          b->minimize([&] { return sum(tanh(strided * 3.0) * target); });
        }
        CHECK(!testing::allclose(fused, start, 0.0, 0.0));  // it moved
        CHECK(testing::allclose(fused, strided, 0.0, 0.0));  // to the same bits
      }
    }
  }
}

// SGD updates a contiguous parameter in one fused pass (optim/detail/fused_update) and anything
// else through tensor ops: bit for bit the same, with every option that changes the loop.
TEST_CASE("optim: SGD's fused update gives the tensor-op update's exact bits", "[optim]") {
  const std::vector<optim::SGDOptions> variants = {
      {.lr = 0.05},
      {.lr = 0.05, .weight_decay = 0.1},
      {.lr = 0.05, .momentum = 0.9},
      {.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.1},
      {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true},
  };
  for (const optim::SGDOptions& o : variants) {
    INFO("momentum " << o.momentum << " dampening " << o.dampening << " weight_decay " << o.weight_decay
                     << " nesterov " << o.nesterov);
    manual_seed(12);
    const Tensor start = randn({5, 3});
    Tensor fused = start.clone().requires_grad_();
    Tensor strided = start.t().contiguous().t().requires_grad_();  // column-major: tensor ops
    REQUIRE(!strided.is_contiguous());
    optim::SGD a({fused}, o), b({strided}, o);
    const Tensor target = randn({5, 3});
    for (int step = 0; step < 5; ++step) {
      a.minimize([&] { return sum(tanh(fused * 3.0) * target); });
      b.minimize([&] { return sum(tanh(strided * 3.0) * target); });
    }
    CHECK(!testing::allclose(fused, start, 0.0, 0.0));
    CHECK(testing::allclose(fused, strided, 0.0, 0.0));
    if (o.momentum != 0)  // the same momentum state too, whichever path kept it
      CHECK(testing::allclose(a.state_dict().at("state.0.momentum_buffer"), b.state_dict().at("state.0.momentum_buffer"),
                              0.0, 0.0));
  }
}

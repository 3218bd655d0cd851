// SPDX-License-Identifier: MIT
// optim:: learning-rate schedules: each one's lr sequence against values worked out by hand from
// PyTorch's definitions, and ReduceLROnPlateau's patience, threshold and cooldown rules.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../helpers.hpp"

using namespace tapeflow;
using tapeflow::test::leaf;

namespace {

/// The lr after construction (epoch 0) and after each of `steps` step() calls; also checks that
/// get_last_lr() and the optimizer agree at every epoch.
std::vector<double> lr_sequence(optim::LRScheduler& s, optim::Optimizer& opt, int steps) {
  std::vector<double> out;
  for (int e = 0; e <= steps; ++e) {
    if (e > 0) s.step();
    INFO("epoch " << e);
    CHECK(s.last_epoch() == e);
    REQUIRE(s.get_last_lr().size() == opt.num_param_groups());
    CHECK(s.get_last_lr()[0] == opt.lr());
    out.push_back(opt.lr());
  }
  return out;
}

void check_sequence(const std::vector<double>& got, const std::vector<double>& expected) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("epoch " << i << ": got " << got[i] << ", expected " << expected[i]);
    CHECK(got[i] == Approx(expected[i]).epsilon(1e-12).margin(1e-15));
  }
}

void check_value_error(const std::function<void()>& fn, const std::string& prefix, const std::string& part) {
  bool thrown = false;
  try {
    fn();
  } catch (const ValueError& e) {
    thrown = true;
    const std::string message = e.what();
    INFO(message);
    CHECK(message.rfind(prefix, 0) == 0);
    CHECK(message.find(part) != std::string::npos);
  }
  CHECK(thrown);
}

}  // namespace

TEST_CASE("optim: StepLR multiplies by gamma every step_size epochs", "[optim]") {
  Tensor w = leaf({1.0});
  optim::SGD opt({w}, {.lr = 0.1});
  optim::StepLR s(opt, 3, 0.1);
  check_sequence(lr_sequence(s, opt, 7), {0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001});
  CHECK(s.base_lrs() == std::vector<double>{0.1});
}

TEST_CASE("optim: MultiStepLR multiplies by gamma at each milestone", "[optim]") {
  Tensor w = leaf({1.0});
  {
    optim::SGD opt({w}, {.lr = 1.0});
    optim::MultiStepLR s(opt, {5, 2}, 0.5);  // unsorted on purpose
    check_sequence(lr_sequence(s, opt, 6), {1, 1, 0.5, 0.5, 0.5, 0.25, 0.25});
  }
  {
    optim::SGD opt({w}, {.lr = 1.0});
    optim::MultiStepLR s(opt, {3, 3}, 0.5);  // a repeated milestone applies gamma twice (PyTorch)
    check_sequence(lr_sequence(s, opt, 4), {1, 1, 1, 0.25, 0.25});
  }
}

TEST_CASE("optim: ExponentialLR multiplies by gamma every epoch", "[optim]") {
  Tensor w = leaf({1.0});
  optim::Adam opt({w}, {.lr = 0.8});
  optim::ExponentialLR s(opt, 0.5);
  check_sequence(lr_sequence(s, opt, 4), {0.8, 0.4, 0.2, 0.1, 0.05});
}

TEST_CASE("optim: CosineAnnealingLR follows half a cosine from base to eta_min", "[optim]") {
  Tensor w = leaf({1.0});
  {
    optim::SGD opt({w}, {.lr = 1.0});
    optim::CosineAnnealingLR s(opt, 4);
    // (1 + cos(pi e / 4)) / 2: 1, (1 + sqrt(2)/2)/2, 1/2, (1 - sqrt(2)/2)/2, 0, then back up.
    const double h = std::sqrt(2.0) / 2.0;
    check_sequence(lr_sequence(s, opt, 6), {1.0, (1 + h) / 2, 0.5, (1 - h) / 2, 0.0, (1 - h) / 2, 0.5});
  }
  {
    optim::SGD opt({w}, {.lr = 1.2});
    optim::CosineAnnealingLR s(opt, 2, 0.2);
    check_sequence(lr_sequence(s, opt, 2), {1.2, 0.7, 0.2});
  }
}

TEST_CASE("optim: LinearWarmup ramps up, then holds or hands over", "[optim]") {
  Tensor w = leaf({1.0});
  {
    optim::SGD opt({w}, {.lr = 0.4});
    optim::LinearWarmup s(opt, 4);
    CHECK(opt.lr() == 0.0);  // construction already applies epoch 0
    check_sequence(lr_sequence(s, opt, 6), {0.0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.4});
  }
  {
    optim::SGD opt({w}, {.lr = 0.4});
    optim::LinearWarmup s(opt, 4, 0.5);
    check_sequence(lr_sequence(s, opt, 5), {0.2, 0.25, 0.3, 0.35, 0.4, 0.4});
  }
  {
    // Two warm-up epochs, then a cosine over two epochs starting from the base lr.
    optim::SGD opt({w}, {.lr = 1.0});
    optim::LinearWarmup s(opt, 2, 0.0, std::make_unique<optim::CosineAnnealingLR>(opt, 2));
    check_sequence(lr_sequence(s, opt, 6), {0.0, 0.5, 1.0, 0.5, 0.0, 0.5, 1.0});
  }
  {
    optim::SGD opt({w}, {.lr = 1.0});
    optim::SGD other({w}, {.lr = 1.0});
    check_value_error([&] { optim::LinearWarmup(opt, 2, 0.0, std::make_unique<optim::StepLR>(other, 1)); },
                      "LinearWarmup: ", "another optimizer");
  }
}

TEST_CASE("optim: schedules drive every parameter group and the updates", "[optim]") {
  Tensor a = leaf({0.0});
  Tensor b = leaf({0.0});
  optim::SGD opt({{{a}}, {{b}, {.lr = 0.1}}}, {.lr = 1.0});
  optim::ExponentialLR s(opt, 0.5);
  CHECK(s.base_lrs() == std::vector<double>{1.0, 0.1});
  // d(a + b)/d each = 1, so every epoch moves a by its group's lr, then the schedule halves it.
  std::vector<double> expect_a, expect_b;
  double pa = 0, pb = 0;
  for (int e = 0; e < 3; ++e) {
    opt.minimize([&] { return (a + b).sum(); });
    pa -= std::pow(0.5, e);
    pb -= 0.1 * std::pow(0.5, e);
    s.step();
    CHECK(a.item<double>() == Approx(pa).epsilon(1e-15));
    CHECK(b.item<double>() == Approx(pb).epsilon(1e-15));
    REQUIRE(s.get_last_lr().size() == 2);
    CHECK(s.get_last_lr()[0] == Approx(std::pow(0.5, e + 1)));
    CHECK(s.get_last_lr()[1] == Approx(0.1 * std::pow(0.5, e + 1)));
    CHECK(opt.lr(1) == s.get_last_lr()[1]);
  }
  CHECK(a.item<double>() == Approx(-1.75));

  // Closed forms: a set_lr by hand lasts until the next step().
  opt.set_lr(7.0);
  s.step();
  CHECK(opt.lr(0) == Approx(std::pow(0.5, 4)));
}

TEST_CASE("optim: ReduceLROnPlateau waits out its patience", "[optim]") {
  Tensor w = leaf({1.0});
  optim::SGD opt({w}, {.lr = 1.0});
  optim::ReduceLROnPlateau s(opt, {.factor = 0.5, .patience = 2});
  CHECK(s.best() == INFINITY);
  // 10 and 9 improve; three epochs without improvement (9, 9.5, 9) exceed patience 2: halve.
  // Then 8 improves, and three more flat epochs halve again.
  const std::vector<double> metrics = {10, 9, 9, 9.5, 9, 8, 8, 8, 8};
  const std::vector<double> lrs = {1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25};
  const std::vector<int64_t> bad = {0, 0, 1, 2, 0, 0, 1, 2, 0};
  for (std::size_t e = 0; e < metrics.size(); ++e) {
    INFO("epoch " << e + 1 << ", metric " << metrics[e]);
    s.step(metrics[e]);
    CHECK(opt.lr() == lrs[e]);
    CHECK(s.get_last_lr() == std::vector<double>{lrs[e]});
    CHECK(s.num_bad_epochs() == bad[e]);
    CHECK(s.last_epoch() == static_cast<int64_t>(e + 1));
  }
  CHECK(s.best() == 8.0);
}

TEST_CASE("optim: ReduceLROnPlateau ignores bad epochs during cooldown", "[optim]") {
  Tensor w = leaf({1.0});
  auto run = [&](int64_t cooldown) {
    optim::SGD opt({w}, {.lr = 1.0});
    optim::ReduceLROnPlateau s(opt, {.factor = 0.5, .patience = 1, .cooldown = cooldown});
    std::vector<double> lrs;
    std::vector<bool> cooling;
    for (int e = 0; e < 7; ++e) {
      s.step(5.0);  // never improves after the first epoch
      lrs.push_back(opt.lr());
      cooling.push_back(s.in_cooldown());
    }
    return std::make_pair(lrs, cooling);
  };
  // Without cooldown: drops at epochs 3, 5, 7 (each after two bad epochs).
  CHECK(run(0).first == std::vector<double>{1, 1, 0.5, 0.5, 0.25, 0.25, 0.125});
  // Cooldown 2: after the drop at epoch 3, epochs 4 and 5 do not count; 6 is bad epoch 1, 7 is 2.
  auto [lrs, cooling] = run(2);
  CHECK(lrs == std::vector<double>{1, 1, 0.5, 0.5, 0.5, 0.5, 0.25});
  CHECK(cooling == std::vector<bool>{false, false, true, true, false, false, true});
}

TEST_CASE("optim: ReduceLROnPlateau thresholds, modes, min_lr and eps", "[optim]") {
  Tensor w = leaf({1.0});
  {
    // Relative threshold 1e-4: from best 10, 9.9995 is not an improvement, 9.998 is.
    optim::SGD opt({w}, {.lr = 1.0});
    optim::ReduceLROnPlateau s(opt, {.patience = 5});
    s.step(10.0);
    s.step(9.9995);
    CHECK(s.best() == 10.0);
    CHECK(s.num_bad_epochs() == 1);
    s.step(9.998);
    CHECK(s.best() == 9.998);
    CHECK(s.num_bad_epochs() == 0);
  }
  {
    optim::SGD opt({w}, {.lr = 1.0});
    optim::ReduceLROnPlateau s(opt, {.patience = 5, .threshold = 0.5, .threshold_mode = optim::ThresholdMode::Abs});
    s.step(10.0);
    s.step(9.6);
    CHECK(s.best() == 10.0);
    s.step(9.4);
    CHECK(s.best() == 9.4);
  }
  {
    // Max mode: larger is better (an accuracy).
    optim::SGD opt({w}, {.lr = 1.0});
    optim::ReduceLROnPlateau s(opt, {.mode = optim::PlateauMode::Max, .factor = 0.1, .patience = 0});
    CHECK(s.best() == -INFINITY);
    s.step(0.5);
    s.step(0.6);
    CHECK(opt.lr() == 1.0);
    s.step(0.55);
    CHECK(opt.lr() == Approx(0.1));
    CHECK(s.best() == 0.6);
  }
  {
    // min_lr floors the drop; a drop smaller than eps is skipped; every group drops.
    Tensor v = leaf({1.0});
    optim::SGD opt({{{w}}, {{v}, {.lr = 1e-8}}}, {.lr = 1.0});
    optim::ReduceLROnPlateau s(opt, {.factor = 0.1, .patience = 0, .min_lr = 0.05});
    s.step(1.0);
    s.step(2.0);
    CHECK(opt.lr(0) == Approx(0.1));
    CHECK(opt.lr(1) == 1e-8);  // max(1e-9, 0.05) = 0.05 would raise it; 1e-8 - 0.05 < eps: kept
    s.step(2.0);
    CHECK(opt.lr(0) == 0.05);
    s.step(Tensor(scalar_tensor(3.0)));
    CHECK(opt.lr(0) == 0.05);
    CHECK(s.get_last_lr() == std::vector<double>{0.05, 1e-8});
  }
  {
    Tensor v = leaf({1.0});
    optim::SGD opt({{{w}}, {{v}, {.lr = 1e-8}}}, {.lr = 1.0});
    optim::ReduceLROnPlateau s(opt, {.factor = 0.5, .patience = 0});
    s.step(1.0);
    s.step(1.0);
    CHECK(opt.lr(0) == 0.5);
    CHECK(opt.lr(1) == 1e-8);  // 1e-8 - 5e-9 is below eps = 1e-8: skipped
  }
}

TEST_CASE("optim: bad schedule options throw ValueError naming the schedule", "[optim]") {
  Tensor w = leaf({1.0});
  optim::SGD opt({w}, {.lr = 1.0});
  check_value_error([&] { optim::StepLR(opt, 0); }, "StepLR: ", "step_size");
  check_value_error([&] { optim::StepLR(opt, 2, -0.1); }, "StepLR: ", "gamma");
  check_value_error([&] { optim::MultiStepLR(opt, {2, -1}); }, "MultiStepLR: ", "milestones");
  check_value_error([&] { optim::ExponentialLR(opt, -0.5); }, "ExponentialLR: ", "gamma");
  check_value_error([&] { optim::CosineAnnealingLR(opt, 0); }, "CosineAnnealingLR: ", "t_max");
  check_value_error([&] { optim::LinearWarmup(opt, 0); }, "LinearWarmup: ", "warmup_steps");
  check_value_error([&] { optim::LinearWarmup(opt, 3, 1.5); }, "LinearWarmup: ", "start_factor");
  check_value_error([&] { optim::ReduceLROnPlateau(opt, {.factor = 1.0}); }, "ReduceLROnPlateau: ", "factor");
  check_value_error([&] { optim::ReduceLROnPlateau(opt, {.patience = -1}); }, "ReduceLROnPlateau: ", "patience");
  check_value_error([&] { optim::ReduceLROnPlateau(opt, {.min_lr = -1}); }, "ReduceLROnPlateau: ", "min_lr");
  CHECK(opt.lr() == 1.0);  // failed constructions did not touch the optimizer
}

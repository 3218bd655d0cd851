// SPDX-License-Identifier: MIT
#include "lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "detail/check.hpp"

namespace tapeflow::optim {

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name) : optimizer_(&optimizer), name_(std::move(name)) {
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g) base_lrs_.push_back(optimizer.lr(g));
  last_lr_ = base_lrs_;
}

LRScheduler::~LRScheduler() = default;

void LRScheduler::start() {
  last_epoch_ = 0;
  apply();
}

void LRScheduler::step() {
  ++last_epoch_;
  apply();
}

void LRScheduler::apply() {
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = lr_at(g, last_epoch_);
  // NOTE: all lrs are computed before any is set, so a bad value changes nothing.
  for (std::size_t g = 0; g < lrs.size(); ++g) detail::check_lr(name_, lrs[g]);
  for (std::size_t g = 0; g < lrs.size(); ++g) optimizer_->set_lr(g, lrs[g]);
  last_lr_ = std::move(lrs);
}

namespace {

void check_gamma(const std::string& who, double gamma) { detail::check_non_negative(who, "gamma", gamma); }

}  // namespace

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  TAPEFLOW_CHECK(step_size >= 1, ValueError, "StepLR", "step_size must be at least 1, got ", step_size);
  check_gamma(name(), gamma);
  start();
}

double StepLR::lr_at(std::size_t group, int64_t epoch) const {
  return base_lrs()[group] * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  for (int64_t m : milestones_)
    TAPEFLOW_CHECK(m >= 0, ValueError, "MultiStepLR", "milestones must be non-negative, got ", m);
  check_gamma(name(), gamma);
  std::sort(milestones_.begin(), milestones_.end());
  start();
}

double MultiStepLR::lr_at(std::size_t group, int64_t epoch) const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return base_lrs()[group] * std::pow(gamma_, static_cast<double>(passed));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler(optimizer, "ExponentialLR"), gamma_(gamma) {
  check_gamma(name(), gamma);
  start();
}

double ExponentialLR::lr_at(std::size_t group, int64_t epoch) const {
  return base_lrs()[group] * std::pow(gamma_, static_cast<double>(epoch));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(t_max), eta_min_(eta_min) {
  TAPEFLOW_CHECK(t_max >= 1, ValueError, "CosineAnnealingLR", "t_max must be at least 1, got ", t_max);
  detail::check_non_negative(name(), "eta_min", eta_min);
  start();
}

double CosineAnnealingLR::lr_at(std::size_t group, int64_t epoch) const {
  const double phase = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(t_max_);
  return eta_min_ + (base_lrs()[group] - eta_min_) * (1.0 + std::cos(phase)) / 2.0;
}

LinearWarmup::LinearWarmup(Optimizer& optimizer, int64_t warmup_steps, double start_factor,
                           std::unique_ptr<LRScheduler> after)
    : LRScheduler(optimizer, "LinearWarmup"),
      warmup_steps_(warmup_steps),
      start_factor_(start_factor),
      after_(std::move(after)) {
  TAPEFLOW_CHECK(warmup_steps >= 1, ValueError, "LinearWarmup", "warmup_steps must be at least 1, got ",
                 warmup_steps);
  TAPEFLOW_CHECK(start_factor >= 0 && start_factor <= 1, ValueError, "LinearWarmup",
                 "start_factor must be in [0, 1], got ", start_factor);
  TAPEFLOW_CHECK(!after_ || &after_->optimizer() == &optimizer, ValueError, "LinearWarmup",
                 "the schedule that follows the warm-up drives another optimizer");
  start();
}

double LinearWarmup::lr_at(std::size_t group, int64_t epoch) const {
  if (epoch < warmup_steps_) {
    const double f = static_cast<double>(epoch) / static_cast<double>(warmup_steps_);
    return base_lrs()[group] * (start_factor_ + (1.0 - start_factor_) * f);
  }
  return after_ ? after_->lr_at(group, epoch - warmup_steps_) : base_lrs()[group];
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options)
    : optimizer_(&optimizer), options_(options) {
  const std::string who = "ReduceLROnPlateau";
  TAPEFLOW_CHECK(options.factor >= 0 && options.factor < 1, ValueError, who.c_str(),
                 "factor must be in [0, 1), got ", options.factor);
  TAPEFLOW_CHECK(options.patience >= 0, ValueError, who.c_str(), "patience must be non-negative, got ",
                 options.patience);
  TAPEFLOW_CHECK(options.cooldown >= 0, ValueError, who.c_str(), "cooldown must be non-negative, got ",
                 options.cooldown);
  detail::check_non_negative(who, "threshold", options.threshold);
  detail::check_non_negative(who, "min_lr", options.min_lr);
  detail::check_non_negative(who, "eps", options.eps);
  const double inf = std::numeric_limits<double>::infinity();
  best_ = options.mode == PlateauMode::Min ? inf : -inf;
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g) last_lr_.push_back(optimizer.lr(g));
}

bool ReduceLROnPlateau::is_better(double metric) const {
  const double t = options_.threshold;
  const bool rel = options_.threshold_mode == ThresholdMode::Rel;
  if (options_.mode == PlateauMode::Min) return metric < (rel ? best_ * (1.0 - t) : best_ - t);
  return metric > (rel ? best_ * (1.0 + t) : best_ + t);
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    for (std::size_t g = 0; g < optimizer_->num_param_groups(); ++g) {
      const double old_lr = optimizer_->lr(g);
      const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
      if (old_lr - new_lr > options_.eps) optimizer_->set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_.clear();
  for (std::size_t g = 0; g < optimizer_->num_param_groups(); ++g) last_lr_.push_back(optimizer_->lr(g));
}

void ReduceLROnPlateau::step(const Tensor& metric) {
  TAPEFLOW_CHECK(metric.defined() && metric.numel() == 1, ValueError, "ReduceLROnPlateau",
                 "the metric must be a one-element tensor");
  step(metric.item_double());
}

}  // namespace tapeflow::optim

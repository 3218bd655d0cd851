// SPDX-License-Identifier: MIT
// Learning-rate schedules with PyTorch's semantics: construct after the optimizer, call
// step() once per epoch (after the optimizer's steps), read get_last_lr().
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../tensor/tensor.hpp"
#include "optimizer.hpp"

namespace tapeflow::optim {

/// Base of the epoch-driven schedules. Each group's lr is a closed form of the epoch and of its
/// base lr (the group's lr when the schedule was built), so a set_lr() by hand lasts until the
/// next step(). The optimizer must outlive the schedule.
class LRScheduler {
 public:
  virtual ~LRScheduler();
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances one epoch and sets every group's learning rate to lr_at(group, last_epoch()).
  void step();
  /// The learning rates the last step() (or the constructor, for epoch 0) set, one per group.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  /// Epochs stepped so far (0 right after construction).
  int64_t last_epoch() const { return last_epoch_; }
  /// Each group's learning rate when the schedule was built.
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() const { return *optimizer_; }
  /// Group `group`'s learning rate at `epoch` (>= 0): the schedule itself.
  virtual double lr_at(std::size_t group, int64_t epoch) const = 0;

 protected:
  /// Takes every group's current lr as its base lr. Each subclass constructor must end with
  /// start(), which sets epoch 0's learning rates (lr_at is virtual, so the base cannot).
  LRScheduler(Optimizer& optimizer, std::string name);
  void start();
  const std::string& name() const { return name_; }

 private:
  void apply();

  Optimizer* optimizer_;
  std::string name_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  int64_t last_epoch_ = 0;
};

/// lr = base * gamma^floor(epoch / step_size). Throws ValueError for step_size < 1 or gamma < 0.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(std::size_t group, int64_t epoch) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr = base * gamma^(number of milestones <= epoch); milestones need not be sorted, and a
/// repeated milestone applies gamma twice. Throws ValueError for a negative milestone or gamma.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);
  double lr_at(std::size_t group, int64_t epoch) const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

/// lr = base * gamma^epoch. Throws ValueError for gamma < 0.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  double lr_at(std::size_t group, int64_t epoch) const override;

 private:
  double gamma_;
};

/// lr = eta_min + (base - eta_min) * (1 + cos(pi * epoch / t_max)) / 2: base at epoch 0,
/// eta_min at t_max, then back up (PyTorch's schedule without restarts). Throws ValueError for
/// t_max < 1.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);
  double lr_at(std::size_t group, int64_t epoch) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

/// Linear warm-up: lr = base * (start_factor + (1 - start_factor) * epoch / warmup_steps) for
/// epoch < warmup_steps. From epoch warmup_steps on: base, or, with `after`, after's schedule
/// shifted to start there (after->lr_at(group, epoch - warmup_steps)). `after` must be built on
/// the same optimizer, before the warm-up, and is driven by it (do not step it yourself):
/// `LinearWarmup warm(opt, 5, 0.0, std::make_unique<CosineAnnealingLR>(opt, 95));`
/// Throws ValueError for warmup_steps < 1, start_factor outside [0, 1], or another optimizer.
class LinearWarmup : public LRScheduler {
 public:
  LinearWarmup(Optimizer& optimizer, int64_t warmup_steps, double start_factor = 0.0,
               std::unique_ptr<LRScheduler> after = nullptr);
  double lr_at(std::size_t group, int64_t epoch) const override;

 private:
  int64_t warmup_steps_;
  double start_factor_;
  std::unique_ptr<LRScheduler> after_;
};

/// Whether a smaller (Min) or a larger (Max) metric is better.
enum class PlateauMode { Min, Max };
/// Whether `threshold` is relative to the best metric (Rel) or an absolute margin (Abs).
enum class ThresholdMode { Rel, Abs };

/// Options of ReduceLROnPlateau (PyTorch's defaults).
struct ReduceLROnPlateauOptions {
  PlateauMode mode = PlateauMode::Min;
  /// New lr = max(lr * factor, min_lr); in [0, 1).
  double factor = 0.1;
  /// Epochs without improvement tolerated; the lr drops on the next one.
  int64_t patience = 10;
  /// Improvement needed to count: Min/Rel means metric < best * (1 - threshold).
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::Rel;
  /// Epochs after a drop during which bad epochs are not counted.
  int64_t cooldown = 0;
  double min_lr = 0.0;
  /// A drop smaller than eps is skipped.
  double eps = 1e-8;
};

/// Lowers every group's lr by `factor` when the metric has not improved for more than
/// `patience` epochs, with PyTorch's rules. Call step(metric) once per epoch.
class ReduceLROnPlateau {
 public:
  /// Throws ValueError for factor outside [0, 1), negative patience, cooldown, threshold or min_lr.
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});
  void step(double metric);
  /// The metric of a one-element tensor.
  void step(const Tensor& metric);
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  /// Best metric so far (+inf for Min, -inf for Max before any step).
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }

 private:
  bool is_better(double metric) const;

  Optimizer* optimizer_;
  ReduceLROnPlateauOptions options_;
  std::vector<double> last_lr_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
};

}  // namespace tapeflow::optim

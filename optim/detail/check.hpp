// SPDX-License-Identifier: MIT
// Option checks shared by the optimizers and schedules: each throws ValueError naming the
// optimizer (or schedule), the option and the value.
#pragma once
#include <cmath>
#include <string>

#include "../../tensor/detail/check.hpp"

namespace tapeflow::optim::detail {

inline void check_lr(const std::string& who, double lr) {
  TAPEFLOW_CHECK(lr >= 0 && std::isfinite(lr), ValueError, who.c_str(),
                 "learning rate must be a finite non-negative number, got ", lr);
}

/// `value` >= 0 and finite (NaN fails too).
inline void check_non_negative(const std::string& who, const char* what, double value) {
  TAPEFLOW_CHECK(value >= 0 && std::isfinite(value), ValueError, who.c_str(), what,
                 " must be a finite non-negative number, got ", value);
}

/// 0 <= value < 1, like Adam's betas.
inline void check_unit_interval(const std::string& who, const char* what, double value) {
  TAPEFLOW_CHECK(value >= 0 && value < 1, ValueError, who.c_str(), what, " must be in [0, 1), got ",
                 value);
}

}  // namespace tapeflow::optim::detail

// SPDX-License-Identifier: MIT
#pragma once
#include <map>
#include <string>

#include "tensor.hpp"

namespace tapeflow {

/// Named tensors, sorted by name: what modules and optimizers save and restore (and what a
/// checkpoint file holds). Names are dotted paths ("encoder.0.weight", "state.3.exp_avg").
using StateDict = std::map<std::string, Tensor>;

}  // namespace tapeflow

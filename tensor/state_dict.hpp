// SPDX-License-Identifier: MIT
#pragma once
#include <iosfwd>
#include <map>
#include <string>

#include "tensor.hpp"

namespace tapeflow {

/// Named tensors, sorted by name: what modules and optimizers save and restore (and what a
/// checkpoint file holds). Names are dotted paths ("encoder.0.weight", "state.3.exp_avg").
using StateDict = std::map<std::string, Tensor>;

/// One line per entry, "name: [shape] dtype" (plus the device when not the CPU), in name
/// order, without a trailing newline; "(empty)" when there is none. Values are left out: print
/// a tensor of it for those. Found by ADL, since the map's value type is tapeflow's.
std::ostream& operator<<(std::ostream& os, const StateDict& state);

}  // namespace tapeflow

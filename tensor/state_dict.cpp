// SPDX-License-Identifier: MIT
#include "state_dict.hpp"

#include <ostream>

#include "device.hpp"
#include "dtype.hpp"
#include "shape.hpp"

namespace tapeflow {

std::ostream& operator<<(std::ostream& os, const StateDict& state) {
  if (state.empty()) return os << "(empty)";
  bool first = true;
  for (const auto& [name, t] : state) {
    if (!first) os << '\n';
    first = false;
    os << name << ": ";
    if (!t.defined()) {
      os << "undefined";
      continue;
    }
    os << shape_str(t.shape()) << ' ' << dtype_name(t.dtype());
    if (!t.device().is_cpu()) os << ' ' << t.device();
  }
  return os;
}

}  // namespace tapeflow

// SPDX-License-Identifier: MIT
#include "threads.hpp"

#include <cblas.h>

#include <string>

#include "../backends/cpu/parallel.hpp"
#include "error.hpp"

namespace tapeflow {

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: expected at least 1 thread, got " + std::to_string(n));
  cpu::set_num_threads(n);
  // NOTE: OpenBLAS keeps its own pool; left at its default (every core) while ours is limited,
  // a GEMM would still use every core and a 1-thread figure would be a lie.
  openblas_set_num_threads(cpu::num_threads());
}

int get_num_threads() { return cpu::num_threads(); }

}  // namespace tapeflow

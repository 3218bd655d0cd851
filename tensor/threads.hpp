// SPDX-License-Identifier: MIT
// How many CPU threads tapeflow's kernels use, LibTorch's `torch::set_num_threads` by name.
#pragma once

namespace tapeflow {

/// Threads that CPU kernels (tapeflow's own loops and OpenBLAS's GEMM) may use from now on, for
/// every thread of the process. Clamped to [1, the number of cores]: a pool larger than the
/// machine only makes the threads wait for each other. Throws ValueError when n < 1.
void set_num_threads(int n);
/// The current limit: the number of cores until set_num_threads is called.
int get_num_threads();

}  // namespace tapeflow

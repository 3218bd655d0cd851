// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <functional>

namespace tapeflow::cpu {

/// Below this many elements, work stays on the calling thread: waking a worker costs more
/// than it saves.
inline constexpr int64_t kParallelGrain = 32768;

/// Calls fn(begin, end) over [0, n) split into contiguous chunks, one per core, when
/// n >= grain; otherwise fn(0, n) on this thread. Nested calls run serially.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

/// Like parallel_for, but fn(chunk, begin, end) also gets the chunk's number; chunks cover
/// [0, n) in order, so per-chunk partial results merged by number are deterministic.
void parallel_chunks(int64_t n, int64_t grain,
                     const std::function<void(int chunk, int64_t, int64_t)>& fn);

/// Number of threads parallel_for uses (cores, at most).
int num_threads();

}  // namespace tapeflow::cpu

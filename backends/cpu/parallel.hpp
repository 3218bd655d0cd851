// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <functional>

namespace tapeflow::cpu {

/// Below this many elements, work stays on the calling thread: waking a worker costs more
/// than it saves.
inline constexpr int64_t kParallelGrain = 32768;

/// The pool's entry point: fn(chunk, begin, end) over [0, n) in chunks, one per thread.
void run_chunks(int64_t n, int64_t grain, const std::function<void(int chunk, int64_t, int64_t)>& fn);

/// Like parallel_for, but fn(chunk, begin, end) also gets the chunk's number; chunks cover
/// [0, n) in order, so per-chunk partial results merged by number are deterministic.
template <typename F>
void parallel_chunks(int64_t n, int64_t grain, const F& fn) {
  if (n <= 0) return;
  // NOTE: small work calls fn directly: wrapping it in std::function for the pool costs more
  // than a whole 4-element op.
  if (n < grain) return fn(0, int64_t{0}, n);
  run_chunks(n, grain, fn);
}

/// Calls fn(begin, end) over [0, n) split into contiguous chunks, one per core, when
/// n >= grain; otherwise fn(0, n) on this thread. Nested calls run serially.
template <typename F>
void parallel_for(int64_t n, int64_t grain, const F& fn) {
  parallel_chunks(n, grain, [&fn](int, int64_t begin, int64_t end) { fn(begin, end); });
}

/// Number of threads parallel_for uses now: the cores, or fewer after set_num_threads.
int num_threads();
/// Limits parallel_for to n threads, clamped to [1, max_threads()].
void set_num_threads(int n);
/// The pool's size (the cores): the most chunks parallel_chunks ever hands out.
int max_threads();

}  // namespace tapeflow::cpu

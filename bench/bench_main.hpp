// SPDX-License-Identifier: MIT
// The main() both benchmark programs share, so that tapeflow's and LibTorch's figures come from
// the same harness: Google Benchmark's flags, plus
//   --threads=N   the thread count, set before anything runs (each library's own setter);
//   --rss         instead of benchmarking, run the MLP training loop and print its memory as
//                 one JSON line {"rss_start_kib": ..., "rss_peak_kib": ...}: peak RSS is a
//                 per-process figure, so it gets a fresh process of its own.
#pragma once
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench {

/// Resident memory now, from /proc/self/statm (pages), in KiB.
inline long current_rss_kib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/// The process's peak resident memory so far, in KiB.
inline long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

/// Steps of the MLP loop that --rss runs: enough for every buffer the loop keeps to be live.
inline constexpr int kRssSteps = 200;

struct Hooks {
  void (*set_threads)(int);
  void (*mlp_loop)(int steps);  // the MLP training loop at batch 64, for --rss
};

inline int main(int argc, char** argv, const Hooks& hooks) {
  int threads = 1;
  bool rss = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else if (std::strcmp(argv[i], "--rss") == 0) {
      rss = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (threads < 1) {
    std::fprintf(stderr, "--threads must be at least 1\n");
    return 2;
  }
  hooks.set_threads(threads);
  if (rss) {
    const long start = current_rss_kib();
    hooks.mlp_loop(kRssSteps);
    std::printf("{\"rss_start_kib\": %ld, \"rss_peak_kib\": %ld}\n", start, peak_rss_kib());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench

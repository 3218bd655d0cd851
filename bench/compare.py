#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs tapeflow_bench and torch_bench alternately and prints one table of medians and ratios.

Called by bench/run.sh (which builds both); see bench/README.md. For each thread count it runs
ROUNDS rounds; a round goes through the workload families (GROUPS) and runs each as a fresh
process of tapeflow, then of LibTorch in each of its configurations, every workload REPS times. A workload's figure is the median of all its repetitions
over all rounds; LibTorch's is the median of its best configuration for that workload
(OMP_WAIT_POLICY=passive, and at more than one thread also OpenMP's default), so tapeflow is
compared against LibTorch at its best, never at its worst.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

# workload: (label, divisor, target ratio, how the target reads)
# The chain's figure is per op: its ten ops (the sum and backward ride along, as in LibTorch).
TARGETS = {
    "tiny_add/recorded": (0.2, "≤ 0.2×"),
    "chain10/fwd_bwd": (0.125, "≤ 0.125×"),
    "mlp_step/64": (0.75, "≤ 0.75×"),
    "mlp_step/256": (0.75, "≤ 0.75×"),
    "cnn_step/64": (0.5, "≤ 0.5×"),
    "lstm_step": (0.75, "≤ 0.75×"),
}
PER_OP = {"chain10/fwd_bwd": 10}
# Workload families, each run as one process of either program (Google Benchmark filters).
GROUPS = ["^tiny_add/", "^chain10/", "^(sgemm|cblas_sgemm)/", "^mlp_step/", "^cnn_step/", "^lstm_step",
          "^optim_step/", "^(layout|reduce|unary)/"]
SGEMM_FLOOR = 0.95  # tapeflow's sgemm throughput against OpenBLAS called directly


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def bench_times(exe, threads, env_extra, args, group):
    """{name: [seconds per iteration, one per repetition]} from one process run of the
    workloads in `group` that --filter also selects."""
    env = dict(os.environ, **env_extra)
    cmd = [exe, f"--threads={threads}", "--benchmark_format=json",
           f"--benchmark_repetitions={args.reps}", f"--benchmark_min_time={args.min_time}",
           "--benchmark_report_aggregates_only=false", f"--benchmark_filter={group}"]
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = {}
    for b in run_json(cmd, env)["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].removesuffix("/real_time")
        if not re.search(args.filter, name):
            continue
        times.setdefault(name, []).append(b["real_time"] * scale[b["time_unit"]] / PER_OP.get(name, 1))
    return times


def selected(exe, group, name_filter):
    """Whether --filter keeps any workload of `group`: a family it keeps none of is not run."""
    names = subprocess.run([exe, f"--benchmark_filter={group}", "--benchmark_list_tests=true"], check=True,
                           capture_output=True, text=True).stdout.split()
    return any(re.search(name_filter, n.removesuffix("/real_time")) for n in names)


def rss(exe, env_extra):
    env = dict(os.environ, **env_extra)
    return run_json([exe, "--threads=1", "--rss"], env)


def fmt_time(s):
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("build", help="build dir with bench/tapeflow_bench (and bench/torch_bench)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--filter", default=".")
    p.add_argument("--markdown", help="also write the table to this file")
    args = p.parse_args()

    ours = os.path.join(args.build, "bench", "tapeflow_bench")
    theirs = os.path.join(args.build, "bench", "torch_bench")
    have_torch = os.path.exists(theirs)
    if not have_torch:
        print("compare: LibTorch side not built (is libtorch-dev installed?); tapeflow only", file=sys.stderr)

    lines = []
    def out(line=""):
        print(line, flush=True)
        lines.append(line)

    out("| threads | workload | tapeflow | LibTorch | tapeflow / LibTorch | target | met |")
    out("|---|---|---|---|---|---|---|")
    verdicts = []
    groups = [g for g in GROUPS if selected(ours, g, args.filter)]
    for threads in [int(t) for t in args.threads.split(",")]:
        configs = {"passive": {"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "passive"}}
        if threads > 1:
            configs["default"] = {"OMP_NUM_THREADS": str(threads)}
        ours_t, theirs_t = {}, {c: {} for c in configs}
        for r in range(args.rounds):
            print(f"compare: {threads} thread(s), round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
            # One workload family at a time, tapeflow then LibTorch, so that the two figures of a
            # workload are taken seconds apart: this machine's speed drifts over minutes.
            for group in groups:
                for name, ts in bench_times(ours, threads, {}, args, group).items():
                    ours_t.setdefault(name, []).extend(ts)
                if have_torch:
                    for c, env in configs.items():
                        for name, ts in bench_times(theirs, threads, env, args, group).items():
                            theirs_t[c].setdefault(name, []).extend(ts)
        for name in ours_t:
            if name.startswith("cblas_sgemm"):
                continue
            mine = statistics.median(ours_t[name])
            best = None
            for c in configs:
                if name in theirs_t[c]:
                    m = statistics.median(theirs_t[c][name])
                    if best is None or m < best[0]:
                        best = (m, c)
            torch_s = f"{fmt_time(best[0])} ({best[1]})" if best else "—"
            ratio = f"{mine / best[0]:.3f}" if best else "—"
            label = name + (" per op" if name in PER_OP else "")
            target, met = "", ""
            if name in TARGETS and best:
                limit, target = TARGETS[name]
                ok = mine / best[0] <= limit
                met = "yes" if ok else "**no**"
                verdicts.append(ok)
            cblas = "cblas_" + name
            if cblas in ours_t:
                direct = statistics.median(ours_t[cblas])
                share = direct / mine
                target = f"≥ {SGEMM_FLOOR}× OpenBLAS ({fmt_time(direct)}): {share:.3f}×"
                met = "yes" if share >= SGEMM_FLOOR else "**no**"
                verdicts.append(share >= SGEMM_FLOOR)
            out(f"| {threads} | {label} | {fmt_time(mine)} | {torch_s} | {ratio} | {target} | {met} |")

    if "mlp" in args.filter or args.filter == ".":
        rounds = [(rss(ours, {}), rss(theirs, {"OMP_NUM_THREADS": "1"}) if have_torch else None)
                  for _ in range(args.rounds)]
        mine = statistics.median(a["rss_peak_kib"] for a, _ in rounds) / 1024
        mine_start = statistics.median(a["rss_start_kib"] for a, _ in rounds) / 1024
        if have_torch:
            theirs_peak = statistics.median(b["rss_peak_kib"] for _, b in rounds) / 1024
            theirs_start = statistics.median(b["rss_start_kib"] for _, b in rounds) / 1024
            ok = mine <= theirs_peak
            verdicts.append(ok)
            out(f"| 1 | MLP peak RSS (at start) | {mine:.1f} MiB ({mine_start:.1f}) | {theirs_peak:.1f} MiB "
                f"({theirs_start:.1f}) | {mine / theirs_peak:.3f} | ≤ 1× | {'yes' if ok else '**no**'} |")
        else:
            out(f"| 1 | MLP peak RSS (at start) | {mine:.1f} MiB ({mine_start:.1f}) | — | — | | |")

    print(f"compare: {sum(verdicts)} of {len(verdicts)} targets met", file=sys.stderr)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

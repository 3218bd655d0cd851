#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs cuda_bench (tapeflow on the GPU) and torch_cuda_bench.py (PyTorch on the GPU) and prints
one table of medians and ratios, tapeflow / PyTorch (below 1: tapeflow takes less time).

Called by bench/run_cuda.sh (which builds cuda_bench); see bench/README.md. For each of
ROUNDS rounds it goes through the workload families (GROUPS) and runs each as a fresh process
of cuda_bench, then of torch_cuda_bench.py, every workload REPS times (each at least MIN_TIME
seconds), so that the two figures of a workload are taken close together. A figure is the
median over all repetitions of all rounds. sgemm rows also show cuBLAS called directly
(cublasSgemm, the floor) and tapeflow's share of its throughput; add_chain rows are per add.

A side that cannot run (cuda_bench not built or no GPU; PyTorch or its GPU missing) is named
with its reason, and the other side is still shown. Exits 0 unless a program fails.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

from torch_cuda_bench import fmt_time  # beside this script; imports torch only in its main()

GROUPS = ["^(sgemm|cublas_sgemm)/", "^add_chain/", "^mlp_(adam_)?step/", "^cnn_step/"]
PER_OP = {"add_chain/recorded": 1000, "add_chain/no_grad": 1000}  # adds per iteration


def run(cmd):
    """(parsed JSON, None), or (None, the one-line reason the program gave for skipping)."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"compare_cuda: {' '.join(cmd)} exited with status {p.returncode}")
    out = p.stdout.strip()
    try:
        return json.loads(out), None
    except json.JSONDecodeError:
        return None, (out.splitlines() or ["no output"])[-1]


def ours(exe, args, group):
    """{name: [seconds per iteration, ...]} and cuda_bench's context, or a skip reason."""
    if not os.path.exists(exe):
        return {}, {}, f"{exe} not built (the library was built without CUDA: nvcc not found?)"
    data, why = run([exe, "--benchmark_format=json", f"--benchmark_repetitions={args.reps}",
                     f"--benchmark_min_time={args.min_time}", "--benchmark_report_aggregates_only=false",
                     f"--benchmark_filter={group}"])
    if data is None:
        return {}, {}, why
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = {}
    errors = set()
    for b in data["benchmarks"]:
        if b.get("error_occurred"):  # a workload whose result check failed: no figure
            errors.add(f"compare_cuda: {b['name']}: {b.get('error_message')}")
            continue
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].removesuffix("/real_time")
        if re.search(args.filter, name):
            times.setdefault(name, []).append(b["real_time"] * scale[b["time_unit"]])
    for e in sorted(errors):
        print(e, file=sys.stderr)
    return times, data.get("context", {}), None


def theirs(args, group):
    """{name: [seconds per iteration, ...]} and PyTorch's context, or a skip reason."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_cuda_bench.py")
    cmd = [args.python, script, "--json", f"--reps={args.reps}", f"--min-time={args.min_time}", f"--filter={group}"]
    if args.tf32:
        cmd.append("--tf32")
    data, why = run(cmd)
    if data is None:
        return {}, {}, why
    times = {b["name"]: b["times_s"] for b in data["benchmarks"] if re.search(args.filter, b["name"])}
    return times, data.get("context", {}), None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build", help="build dir holding bench/cuda_bench")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--filter", default=".", help="regular expression on the workload names")
    p.add_argument("--python", default="python3", help="the Python that has PyTorch (default: python3 on PATH)")
    p.add_argument("--tf32", action="store_true", help="let PyTorch use TF32 (off by default: both sides in FP32)")
    p.add_argument("--markdown", help="also write the table to this file")
    args = p.parse_args()

    exe = os.path.join(args.build, "bench", "cuda_bench")
    ours_t, theirs_t = {}, {}
    ours_ctx, theirs_ctx = {}, {}
    ours_why = theirs_why = None
    for r in range(args.rounds):
        for group in GROUPS:
            print(f"compare_cuda: round {r + 1}/{args.rounds}, {group}", file=sys.stderr, flush=True)
            if ours_why is None:
                t, ctx, ours_why = ours(exe, args, group)
                ours_ctx = ctx or ours_ctx
                for name, ts in t.items():
                    ours_t.setdefault(name, []).extend(ts)
            if theirs_why is None:
                t, ctx, theirs_why = theirs(args, group)
                theirs_ctx = ctx or theirs_ctx
                for name, ts in t.items():
                    theirs_t.setdefault(name, []).extend(ts)

    lines = []

    def out(line=""):
        print(line, flush=True)
        lines.append(line)

    if ours_why:
        out(f"tapeflow: {ours_why}")
    else:
        out(f"tapeflow: cuda_bench on {ours_ctx.get('gpu', '?')}")
    if theirs_why:
        out(f"PyTorch:  {theirs_why}")
    else:
        c = theirs_ctx
        out(f"PyTorch:  torch {c.get('torch')} (CUDA {c.get('cuda')}) on {c.get('gpu')}, "
            f"TF32 {'on' if c.get('tf32') else 'off'}")
    out(f"median of {args.rounds} round(s) × {args.reps} repetitions of ≥ {args.min_time} s, "
        "each iteration ending in a device synchronize")
    if not ours_t and not theirs_t:
        out("nothing measured on either side")
        return 0
    out()
    out("| workload | tapeflow | PyTorch | tapeflow / PyTorch | note |")
    out("|---|---|---|---|---|")
    names = list(ours_t) + [n for n in theirs_t if n not in ours_t]
    for name in names:
        if name.startswith("cublas_sgemm"):
            continue
        div = PER_OP.get(name, 1)
        mine = statistics.median(ours_t[name]) / div if name in ours_t else None
        torch_s = statistics.median(theirs_t[name]) / div if name in theirs_t else None
        ratio = f"{mine / torch_s:.3f}" if mine and torch_s else "—"
        note = ""
        if name.startswith("sgemm/"):
            n = int(name.split("/")[1])
            flop = 2.0 * n ** 3
            parts = []
            if mine:
                parts.append(f"tapeflow {flop / mine / 1e12:.1f} TFLOP/s")
            cublas = "cublas_" + name
            if cublas in ours_t:
                direct = statistics.median(ours_t[cublas])
                parts.append(f"cuBLAS direct {fmt_time(direct)} ({flop / direct / 1e12:.1f} TFLOP/s)")
                if mine:
                    parts.append(f"tapeflow at {direct / mine:.3f}× cuBLAS's throughput")
            note = "; ".join(parts)
        label = name + (" per add" if name in PER_OP else "")
        out(f"| {label} | {fmt_time(mine) if mine else '—'} | {fmt_time(torch_s) if torch_s else '—'} | {ratio} | {note} |")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

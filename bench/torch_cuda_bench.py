#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch's side of cuda_bench: the same GPU workloads, name for name, in PyTorch.

    sgemm/N              torch.matmul of two N×N float32 matrices, N = 512, 1024, 2048, 4096
    add_chain/recorded   1000 chained adds y = y + b on 16-element tensors, a requiring grad
    add_chain/no_grad    the same under torch.no_grad()
    mlp_step/B           MLP 784-256-256-10, ReLU, cross-entropy, SGD lr 0.1, batch 64 and 256
    mlp_adam_step/B      the same MLP with Adam lr 1e-3
    cnn_step/B           conv(1→32,3)-relu-maxpool2-conv(32→64,3)-relu-maxpool2-linear(1600→128)
                         -relu-linear(128→10), SGD lr 0.01, batch 64 and 256

Every iteration ends with torch.cuda.synchronize(), as cuda_bench's end with cuda_synchronize():
a figure counts the GPU work an iteration queued, not only its launch. Each workload is warmed
up first, then timed REPS times (each at least MIN_TIME seconds); its figure is the median.
TF32 is off (torch.backends.{cuda.matmul,cudnn}.allow_tf32 = False) so that both sides compute
in plain float32; --tf32 turns it on (PyTorch's own default for convolutions).

Prints a table, or with --json one JSON object (bench/compare_cuda.py reads it). Without
PyTorch, or without a GPU, it prints one line saying so and exits 0.
"""
import argparse
import json
import re
import statistics
import sys
import time

CHAIN = 1000  # adds per add_chain iteration


def workloads(torch, dev):
    """{name: setup}, each setup returning a step() that runs one iteration and synchronizes."""
    nn = torch.nn
    F = torch.nn.functional

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def sgemm(n):
        def setup():
            g = torch.Generator().manual_seed(0)
            a = torch.randn(n, n, generator=g).to(dev)
            b = torch.randn(n, n, generator=g).to(dev)

            def step():
                c = torch.matmul(a, b)
                sync()
                return c
            return step
        return setup

    def add_chain(recorded):
        def setup():
            g = torch.Generator().manual_seed(0)
            a = torch.randn(16, generator=g).to(dev).requires_grad_(recorded)
            b = torch.randn(16, generator=g).to(dev)

            def chain():
                y = a
                for _ in range(CHAIN):
                    y = y + b
                sync()
                return y

            if recorded:
                return chain

            def step():
                with torch.no_grad():
                    return chain()
            return step
        return setup

    def train_step(model, optimizer, x, labels):
        def step():
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            optimizer.step()
            sync()
            return loss
        return step

    def mlp(batch, adam):
        def setup():
            torch.manual_seed(0)
            model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                  nn.Linear(256, 10)).to(dev)
            optimizer = (torch.optim.Adam(model.parameters(), lr=1e-3) if adam
                         else torch.optim.SGD(model.parameters(), lr=0.1))
            x = torch.randn(batch, 784).to(dev)
            labels = torch.randint(0, 10, (batch,)).to(dev)
            return train_step(model, optimizer, x, labels)
        return setup

    def cnn(batch):
        def setup():
            torch.manual_seed(0)
            model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(),
                                  nn.Linear(128, 10)).to(dev)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            x = torch.randn(batch, 1, 28, 28).to(dev)
            labels = torch.randint(0, 10, (batch,)).to(dev)
            return train_step(model, optimizer, x, labels)
        return setup

    table = {}
    for n in (512, 1024, 2048, 4096):
        table[f"sgemm/{n}"] = sgemm(n)
    table["add_chain/recorded"] = add_chain(True)
    table["add_chain/no_grad"] = add_chain(False)
    for b in (64, 256):
        table[f"mlp_step/{b}"] = mlp(b, adam=False)
    for b in (64, 256):
        table[f"mlp_adam_step/{b}"] = mlp(b, adam=True)
    for b in (64, 256):
        table[f"cnn_step/{b}"] = cnn(b)
    return table


def measure(step, reps, min_time, warmup):
    """Seconds per iteration, one figure per repetition, after warming up."""
    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < warmup:
        step()
        n += 1
    times = []
    for _ in range(reps):
        iters = 0
        t0 = time.perf_counter()
        while True:
            step()
            iters += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        times.append(elapsed / iters)
    return times


def fmt_time(s):
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--filter", default=".", help="regular expression on the workload names")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions per workload (median reported)")
    p.add_argument("--min-time", type=float, default=0.3, help="seconds per repetition, at least")
    p.add_argument("--warmup", type=float, default=0.2, help="seconds of untimed iterations first")
    p.add_argument("--tf32", action="store_true", help="allow TF32 in matmul and cuDNN")
    p.add_argument("--json", action="store_true", help="print one JSON object (for compare_cuda.py)")
    p.add_argument("--cpu", action="store_true",
                   help="run the workloads on the CPU instead: checks this script on a machine without a GPU "
                        "(its figures compare with nothing here)")
    args = p.parse_args()

    try:
        import torch
    except ImportError as e:
        print(f"PyTorch is not installed for {sys.executable}: skipped ({e})")
        return 0
    if not args.cpu and not torch.cuda.is_available():
        print(f"no CUDA device: skipped (torch {torch.__version__}: torch.cuda.is_available() is False)")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32

    dev = torch.device("cpu") if args.cpu else torch.device("cuda", 0)
    context = {"torch": torch.__version__, "cuda": torch.version.cuda,
               "gpu": "CPU (--cpu)" if args.cpu else torch.cuda.get_device_name(0), "tf32": args.tf32}
    results = []
    for name, setup in workloads(torch, dev).items():
        if not re.search(args.filter, name):
            continue
        step = setup()
        times = measure(step, args.reps, args.min_time, args.warmup)
        del step
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        results.append({"name": name, "median_s": statistics.median(times), "times_s": times})
        if not args.json:
            m = statistics.median(times)
            per = f"  ({fmt_time(m / CHAIN)} per add)" if name.startswith("add_chain/") else ""
            print(f"{name:22s} {fmt_time(m):>10s}  [{fmt_time(min(times))} – {fmt_time(max(times))}]{per}",
                  flush=True)
    if args.json:
        print(json.dumps({"context": context, "benchmarks": results}))
    else:
        print(f"PyTorch {context['torch']} (CUDA {context['cuda']}) on {context['gpu']}, TF32 "
              f"{'on' if args.tf32 else 'off'}; median of {args.reps} repetitions of ≥ {args.min_time} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU benchmark command: builds cuda_bench (in BUILD_DIR, default build-cuda-bench; the
# library must find nvcc), prints the machine, then runs cuda_bench and torch_cuda_bench.py
# side by side and prints one table (compare_cuda.py). bench/README.md says how to read it.
# Extra arguments go to compare_cuda.py, e.g. --rounds 1 --reps 3 for a quick look, --filter
# sgemm for one family, --python /path/to/python for the Python that has PyTorch, --markdown
# FILE to keep the table. Without a GPU (or without PyTorch) it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-cuda-bench}
python=python3
args=("$@")
for ((i = 0; i < ${#args[@]}; ++i)); do
  case ${args[i]} in
    --python) python=${args[i + 1]:-python3} ;;
    --python=*) python=${args[i]#--python=} ;;
  esac
done

# Only checks when everything is there (a GPU machine may have no network).
bash .ci/install-deps libbenchmark-dev || echo "run_cuda: could not install the missing packages; trying anyway" >&2
if [[ ! -f $build/build.ninja ]]; then
  meson setup "$build" -Dbench=true -Dtests=false -Dsamples=false
fi
if meson introspect --targets "$build" | python3 -c 'import json,sys; sys.exit(0 if any(t["name"] == "cuda_bench" for t in json.load(sys.stdin)) else 1)'; then
  meson compile -C "$build" -j"${JOBS:-$(nproc)}" bench/cuda_bench
else
  echo "run_cuda: $build has no cuda_bench target: the library was configured without CUDA (nvcc not found); only PyTorch's side runs" >&2
fi

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/Mem:/ {print $2}') GiB"
if command -v nvidia-smi >/dev/null; then
  echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 || echo '?')"
else
  echo "GPU: nvidia-smi not found"
fi
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
echo "CUDA: $("$nvcc" --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'nvcc not found')"
echo "compiler: $(c++ --version | head -1)"
echo "PyTorch: $("$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null || echo "not installed for $python")"
echo "command: bench/run_cuda.sh $*"
"$python" bench/compare_cuda.py "$build" "$@"

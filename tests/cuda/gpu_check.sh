#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Everything a GPU machine has to confirm about the CUDA backend, in one run (a lent GPU comes
# with minutes, not hours): the CUDA tests (op parity with the CPU, the gradient tables on the
# GPU, training), compute-sanitizer's memcheck over the parity tests, three samples with
# --device cuda, and the benchmark beside PyTorch. Runs the binaries of tests/cuda/pack.sh's
# archive, made on the development machine, so it needs no compiler or package here.
#
#   bash tests/cuda/gpu_check.sh [ARCHIVE]          (default .gpu/tapeflow-gpu.tar.xz)
#
# Logs go to $OUT (the device tool's folder that comes back) or ./gpu-check: check.log (every
# step), memcheck.log, bench.md. Exits 1 when any step failed; the log says which.
set -uo pipefail
archive=${1:-.gpu/tapeflow-gpu.tar.xz}
out=${OUT:-$PWD/gpu-check}
mkdir -p "$out"
log="$out/check.log"
: >"$log"
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no GPU here (nvidia-smi finds none): run this on the GPU machine" | tee -a "$log"
  exit 2
fi
root=$(mktemp -d)
tar -C "$root" -xJf "$archive" || { echo "gpu_check: cannot unpack $archive" | tee -a "$log"; exit 1; }

# tapeflow loads cuBLAS on first use by name, and cuda_bench links cuBLAS and the CUDA runtime:
# find the image's (the toolkit's or a pip wheel's).
cuda_dirs=""
for lib in libcublas.so.13 libcublasLt.so.13 libcudart.so.13; do
  found=$( (ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}') 2>/dev/null)
  [[ -n $found ]] || found=$(find /usr/local /opt /usr/lib -name "$lib" 2>/dev/null | head -1)
  [[ -n $found ]] && cuda_dirs="$cuda_dirs:$(dirname "$found")"
done
export LD_LIBRARY_PATH="$root/lib$cuda_dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

failed=()
step() {
  local name=$1 start=$SECONDS rc
  shift
  echo "=== $name: $*" | tee -a "$log"
  "$@" >>"$log" 2>&1
  rc=$?
  echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$log"
  [[ $rc == 0 ]] || failed+=("$name")
}

{ nvidia-smi -L; nvcc --version | tail -1; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; } >>"$log" 2>&1
step test_cuda "$root/bin/test_cuda"
for t in test_gradcheck test_layers_gradcheck test_conv test_recurrent; do step "$t" "$root/bin/$t" '[cuda]'; done
# memcheck over the parity tables: every kernel family with edge cases, in a few minutes.
step memcheck compute-sanitizer --tool memcheck --error-exitcode 1 --log-file "$out/memcheck.log" \
  "$root/bin/test_cuda" '[parity]'
runs=$(mktemp -d)
step mlp "$root/bin/mlp" --device cuda --epochs 2 --data "$root/data" --logdir "$runs/mlp"
step cnn "$root/bin/cnn" --device cuda --epochs 1 --data "$root/data" --logdir "$runs/cnn"
step char_rnn "$root/bin/char_rnn" --device cuda --steps 200 --text "$root/data/GPL-3" --logdir "$runs/char_rnn"
step bench python3 "$root/bench/compare_cuda.py" "$root" --rounds 1 --markdown "$out/bench.md"

if ((${#failed[@]})); then
  echo "gpu_check: FAILED: ${failed[*]} (details in $log)"
  exit 1
fi
echo "gpu_check: every step passed (details in $log)"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Packs what a GPU machine needs to check the CUDA backend into one archive, built here: the GPU
# machines lent to this project start bare, without this project's Debian libraries (OpenBLAS,
# Catch2, ...) and cannot fetch them, while their glibc and libstdc++ are as new as Debian 12's or
# newer. So the binaries travel, with the non-system libraries they load; gpu_check.sh runs them.
#
#   bash tests/cuda/pack.sh [BUILD_DIR] [ARCHIVE]    (defaults: build-gpu, .gpu/tapeflow-gpu.tar.xz)
#
# BUILD_DIR is configured (once) as a release build with CUDA, tests, samples and the benchmark.
# The archive holds bin/ (the tests with [cuda] cases, four samples), bench/ (cuda_bench,
# torch_cuda_bench.py, compare_cuda.py), lib/ (libtapeflow and what it and they need beyond
# glibc and libstdc++), data/ (Fashion-MNIST's test half, 4.4 MB, which the samples read as
# both halves, and char_rnn's GPL-3 text). About 12 MB, under the device tool's 64 MiB; `.gpu/`
# is ignored by git (.gitignore) and named in the device call's `carry`.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-gpu}
archive=${2:-.gpu/tapeflow-gpu.tar.xz}
cd "$src"
command -v /usr/local/cuda/bin/nvcc >/dev/null || command -v nvcc >/dev/null ||
  { echo "pack.sh: no nvcc here: the archive would have no CUDA backend" >&2; exit 1; }

if [[ ! -f "$build/build.ninja" ]]; then
  bash .ci/install-deps libbenchmark-dev
  meson setup "$build" -Dcuda=enabled -Dtests=true -Dsamples=true -Dbench=true </dev/null
fi
tests=(test_cuda test_gradcheck test_layers_gradcheck test_conv test_recurrent)
samples=(mlp cnn char_rnn logistic_regression)
targets=("${tests[@]/#/tests/}" "${samples[@]/#/samples/}" bench/cuda_bench)
ninja -C "$build" build.ninja >/dev/null  # target names as of the last configure
meson compile -C "$build" -j2 "${targets[@]}" </dev/null

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,lib,data,bench}
for t in "${targets[@]}"; do cp "$build/$t" "$stage/bin/"; done
mv "$stage/bin/cuda_bench" "$stage/bench/"  # where compare_cuda.py looks: BUILD/bench/cuda_bench
cp -L "$build/libtapeflow.so.0" "$stage/lib/"
# Every library the binaries load that is not glibc, libstdc++, libgcc or the CUDA toolkit's (the
# GPU image has CUDA 13, and cuBLAS alone is 600 MB; gpu_check.sh finds them there).
for b in "$stage"/bin/* "$stage/bench/cuda_bench" "$stage/lib/libtapeflow.so.0"; do
  ldd "$b" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  case $(basename "$lib") in
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libstdc++.so*|libgcc_s.so*|ld-linux*|libtapeflow.so*) ;;
    libcublas*|libcudart*|libcuda.so*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
strip --strip-unneeded "$stage"/bin/* "$stage/bench/cuda_bench" "$stage"/lib/*.so* 2>/dev/null || true
for f in t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  cp "/usr/share/datasets/fashion-mnist/$f" "$stage/data/"
  ln -s "$f" "$stage/data/${f/t10k/train}"
done
cp /usr/share/common-licenses/GPL-3 "$stage/data/"  # char_rnn's text; a bare image may lack it
cp bench/torch_cuda_bench.py bench/compare_cuda.py "$stage/bench/"

mkdir -p "$(dirname "$archive")"
tar -C "$stage" -cJf "$archive" .
echo "pack.sh: $archive, $(du -h "$archive" | cut -f1): carry .gpu and run: bash tests/cuda/gpu_check.sh $archive"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The one benchmark command: installs what is missing, builds tapeflow_bench and torch_bench
# (in BUILD_DIR, default build-bench), runs them alternately at 1 and 2 threads and prints one
# table (compare.py), then the compile-time comparison (compile_time.sh). bench/README.md says
# how to read it. Extra arguments go to compare.py, e.g. --rounds 1 --reps 3 for a quick look,
# --filter lstm for one workload, --markdown FILE to keep the table.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-bench}

bash .ci/install-deps libbenchmark-dev libtorch-dev
if [[ ! -f $build/build.ninja ]]; then
  meson setup "$build" -Dbench=true -Dtests=false -Dsamples=false
fi
meson compile -C "$build" -j2

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "compiler: $(c++ --version | head -1), meson buildtype $(meson introspect --buildoptions "$build" | /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))')"
echo "LibTorch: $(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo 'not installed'), OpenBLAS: $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?')"
echo "command: bench/run.sh $*"
/usr/bin/python3 bench/compare.py "$build" "$@"
echo
bench/compile_time.sh "$build"

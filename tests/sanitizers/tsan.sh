#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ThreadSanitizer run of tests/test_threads.cpp. Usage: tsan.sh BUILD_DIR [meson test arguments...]
# Configures BUILD_DIR as a clang-19 TSan build the first time, compiles only libtapeflow and the
# thread test (the rest of the suite would triple the build time and is single-threaded), runs
# it, and exits non-zero on any ThreadSanitizer report or failed test case.
set -euo pipefail
if (($# < 1)); then
  echo "usage: $0 BUILD_DIR [meson test arguments...]" >&2
  exit 2
fi
build=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
source_root=$(cd "$here/../.." && pwd)

if [[ ! -f $build/build.ninja ]]; then
  # plain + explicit -O1: meson's debug/release levels would override it. -O1 keeps TSan's
  # slowdown bearable; line tables are enough for TSan's stacks. -Db_lundef=false: a sanitized
  # shared library leaves the runtime's symbols to the executable.
  CC=clang-19 CXX=clang++-19 meson setup "$build" "$source_root" -Dbuildtype=plain \
    -Db_sanitize=thread -Db_lundef=false \
    -Dcpp_args="-O1 -gline-tables-only -fno-omit-frame-pointer" -Dsamples=false -Dcuda=disabled </dev/null
else
  # meson compile resolves target names from the last configure: regenerate it if a
  # meson.build changed since (a new test file would otherwise be "target not found").
  ninja -C "$build" build.ninja >/dev/null
fi
meson compile -C "$build" -j2 tests/test_threads </dev/null

# halt_on_error: the first report fails the run (the exit status is TSan's 66). A report names
# both stacks; second_deadlock_stack adds the second one of a lock-order inversion too.
options="halt_on_error=1 second_deadlock_stack=1 suppressions=$here/tsan.supp"
symbolizer=$(bash "$here/symbolizer.sh")
if [[ -n $symbolizer ]]; then
  options+=" external_symbolizer_path=$symbolizer"
fi
export TSAN_OPTIONS="$options ${TSAN_OPTIONS:-}"

# The two runs are meson tests of suite tsan (tests/meson.build), so .ci/run counts their test
# cases like any other's. Pass 1, every test case, with OpenBLAS single-threaded: OpenBLAS is not
# instrumented, so TSan sees nothing of its threads but the libc calls they make on our buffers,
# each a false report (see tsan.supp) that costs a trace replay to suppress: with OpenBLAS's
# threads on, the whole file takes ~10 min instead of ~15 s. Everything TSan can check is
# checked in this pass. Pass 2, the training case again with OpenBLAS's own threads, as users
# run it: proves the suppressions cover exactly OpenBLAS's side and nothing of ours shows up
# next to its workers.
meson test -C "$build" --no-rebuild --print-errorlogs --suite tsan "$@" </dev/null

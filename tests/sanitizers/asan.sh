#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, with LeakSanitizer
# on: configures (once) a clang 19 build in BUILD_DIR, builds everything, samples included, and
# runs every meson test but those that cannot run instrumented (see `skipped` below).
#
#   bash tests/sanitizers/asan.sh [BUILD_DIR]        (default: build-asan)
#
# Extra meson setup options go in TAPEFLOW_SANITIZER_SETUP, e.g. "-Dfuzz=true" (.ci/run builds
# the fuzz targets into this same build, so the library is compiled once for both).
# Exits non-zero on any failed test, any sanitizer report and any leak.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-asan}

if [[ ! -f "$build/build.ninja" ]]; then
  # clang, not g++: the fuzz targets need libFuzzer, and one compiler serves both.
  # -O1: ASan's recommended level, several times faster than -O0 for the training tests.
  # -fno-sanitize-recover=all: a UBSan finding fails its test instead of scrolling past.
  # b_lundef=false: an instrumented shared library leaves the ASan runtime's symbols to the
  # executable (clang links the runtime statically into programs only).
  # -Dcuda=disabled: nvcc's objects would be uninstrumented anyway, and the release stage of
  # .ci/run already compiles them; this build tests the CPU backend.
  # shellcheck disable=SC2086  # TAPEFLOW_SANITIZER_SETUP is a list of options
  CC=clang-19 CXX=clang++-19 meson setup "$build" "$src" \
    -Dbuildtype=plain -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args="-O1 -gline-tables-only -fno-omit-frame-pointer -fno-sanitize-recover=all" \
    -Dcpp_link_args="-fno-sanitize-recover=all" -Dcuda=disabled \
    ${TAPEFLOW_SANITIZER_SETUP:-} </dev/null
fi
meson compile -C "$build" -j2 </dev/null

symbolizer=$(bash "$src/tests/sanitizers/symbolizer.sh")
sym=${symbolizer:+:external_symbolizer_path=$symbolizer}
# detect_stack_use_after_return: also catches references to locals that outlive their frame.
# check_initialization_order: static initializers that read another file's statics.
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:halt_on_error=1$sym"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1$sym"

# Not run instrumented, and why:
#   install, subproject (suite install): they check packaging by building the library again,
#     uninstrumented, in a project of their own; they say nothing about memory.
#   sample_repl: it preloads libtapeflow into clang-repl-19, which has no ASan runtime to
#     provide the library's __asan_* symbols.
skipped=(--no-suite install --no-suite repl)
echo "asan.sh: not run under the sanitizers: suite install (packaging, rebuilds uninstrumented), suite repl (clang-repl has no ASan runtime)"
# Instrumented code runs 2-5x slower: give every test's timeout the room.
meson test -C "$build" --no-rebuild --print-errorlogs --timeout-multiplier 3 "${skipped[@]}" </dev/null

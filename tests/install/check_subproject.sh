#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tapeflow as a meson subproject, the way a user's project takes it: copies the consumer project
# (tests/install/subproject) to a temporary folder, links subprojects/tapeflow to this source
# tree, configures with --force-fallback-for=tapeflow (so the subproject is used even where a
# system tapeflow exists), builds with -j2 and runs the program, which checks a gradient.
# This builds the whole library a second time: a few minutes on two cores.
# Usage: bash check_subproject.sh <source_root> <consumer_project_dir> [meson]
# Set KEEP_WORK=1 to keep the temporary folder for a look after a failure.
set -u

if [ $# -lt 2 ]; then
  echo "usage: $0 <source_root> <consumer_project_dir> [meson]" >&2
  exit 2
fi
src_root=$(cd "$1" && pwd) || { echo "FAIL: no source root '$1'" >&2; exit 2; }
project=$(cd "$2" && pwd) || { echo "FAIL: no consumer project '$2'" >&2; exit 2; }
MESON=${3:-meson}
JOBS=${JOBS:-2}
# meson test may set LD_LIBRARY_PATH to the outer build dir, which would win over the consumer's
# RUNPATH and load that libtapeflow instead of the subproject's.
unset LD_LIBRARY_PATH

work=$(mktemp -d "${TMPDIR:-/tmp}/tapeflow-subproject.XXXXXX")
if [ "${KEEP_WORK:-0}" = 1 ]; then
  echo "keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi
fail() {
  echo "FAIL: $1" >&2
  if [ $# -gt 1 ] && [ -e "$2" ]; then
    echo "---- last lines of $(basename "$2") ----" >&2
    tail -n "${3:-40}" "$2" | sed 's/^/    /' >&2
  fi
  exit 1
}

cp -r "$project" "$work/proj"
rm -rf "$work/proj/subprojects"
mkdir "$work/proj/subprojects"
ln -s "$src_root" "$work/proj/subprojects/tapeflow"
echo "consumer project: $work/proj (subprojects/tapeflow -> $src_root)"

# The release build keeps the second library build lean (no debug info to write).
echo "meson setup (tapeflow as subproject, its tests and samples off)"
if ! "$MESON" setup "$work/build" "$work/proj" \
    --buildtype=release \
    --force-fallback-for=tapeflow \
    -Dtapeflow:tests=false -Dtapeflow:samples=false >"$work/setup.log" 2>&1; then
  grep -E '^(.*ERROR|.*error):' "$work/setup.log" | sed 's/^/    /' >&2
  fail "meson setup of the consumer project failed (dependency('tapeflow') via the subproject)" \
    "$work/setup.log"
fi
# Say which tapeflow was found: the log line the subproject fallback writes.
grep -E "Dependency tapeflow|Subproject tapeflow" "$work/setup.log" | sed 's/^/  /'
if ! grep -q "Subproject tapeflow finished" "$work/setup.log"; then
  fail "meson setup did not configure tapeflow as a subproject" "$work/setup.log"
fi

echo "meson compile -j$JOBS"
start=$(date +%s)
if ! "$MESON" compile -C "$work/build" -j "$JOBS" >"$work/compile.log" 2>&1; then
  fail "building tapeflow as a subproject, or the consumer against it, failed" "$work/compile.log" 60
fi
echo "  built in $(($(date +%s) - start)) s"

exe="$work/build/consumer"
[ -x "$exe" ] || fail "no consumer executable at $exe"
out=$("$exe" 2>&1)
rc=$?
echo "$out" | sed 's/^/  /'
[ "$rc" -eq 0 ] || fail "the consumer exited with $rc"
[ "$out" = "subproject consumer: ok" ] || fail "the consumer printed '$out', expected 'subproject consumer: ok'"
echo "subproject check: passed"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzzes every target (or those named) for SECONDS each, two at a time, each from a temporary
# copy of its committed corpus: nothing is written into the source tree. Prints each target's
# executions and coverage; on a crash, leak, sanitizer report or timeout prints the input and the
# command that reproduces it, and exits non-zero.
#
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]
#   BUILD_DIR  a build configured with -Dfuzz=true (see tests/fuzz/meson.build)
#   SECONDS    per target, default 60
#   TARGET     fuzz_idx, fuzz_safetensors, fuzz_events, fuzz_ops (default: all four)
# The work folder (corpora grown by the run, logs, crashing inputs) is kept and printed after a
# crash, or always with TAPEFLOW_FUZZ_KEEP=1; merge new inputs worth keeping with:
#   <binary> -merge=1 <fresh dir> <work>/corpus/<target>
set -u

if [ $# -lt 1 ]; then
  sed -n '3,13p' "$0" >&2
  exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=${2:-60}
shift $(($# >= 2 ? 2 : 1))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_idx fuzz_safetensors fuzz_events fuzz_ops)
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/tapeflow-fuzz-XXXXXX")
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export here build work seconds
symbolizer=$(bash "$here/../sanitizers/symbolizer.sh")
if [ -n "$symbolizer" ]; then
  ASAN_OPTIONS="$ASAN_OPTIONS:external_symbolizer_path=$symbolizer"
  UBSAN_OPTIONS="$UBSAN_OPTIONS:external_symbolizer_path=$symbolizer"
fi

fuzz_one() {
  local t=$1 exe="$build/tests/fuzz/$1"
  if [ ! -x "$exe" ]; then
    echo "missing $exe (configure with -Dfuzz=true and build it)" >"$work/$t.log"
    echo 2 >"$work/$t.rc"
    return
  fi
  mkdir -p "$work/corpus/$t"
  [ -d "$here/corpus/$t" ] && cp "$here/corpus/$t"/* "$work/corpus/$t"/ 2>/dev/null
  (cd "$work" && "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/$t-" "$work/corpus/$t" >"$work/$t.log" 2>&1)
  echo $? >"$work/$t.rc"
}
export -f fuzz_one

echo "fuzzing ${targets[*]} for ${seconds}s each, two at a time; work folder $work"
printf '%s\n' "${targets[@]}" | xargs -P 2 -I{} bash -c 'fuzz_one "$1"' _ {}

failed=0
for t in "${targets[@]}"; do
  rc=$(cat "$work/$t.rc" 2>/dev/null || echo 2)
  # The last status line ("#123 DONE cov: ..." or the last "#N" line before a crash).
  last=$(grep -E '^#[0-9]+' "$work/$t.log" | tail -1)
  execs=$(grep -E '^stat::number_of_executed_units' "$work/$t.log" | awk '{print $2}')
  speed=$(grep -E '^stat::average_exec_per_sec' "$work/$t.log" | awk '{print $2}')
  printf '%-18s rc=%s  runs=%s  exec/s=%s  %s\n' "$t" "$rc" "${execs:-?}" "${speed:-?}" "$last"
  if [ "$rc" != 0 ]; then
    failed=1
    echo "---- $t failed; end of its log ($work/$t.log):"
    tail -40 "$work/$t.log" | sed 's/^/    /'
    for input in "$work/$t"-*; do
      [ -e "$input" ] || continue
      echo "  input:     $input"
      echo "  reproduce: $build/tests/fuzz/$t $input"
    done
  fi
done
if [ $failed = 0 ]; then
  # A clean run's grown corpora are only worth keeping when asked for (they can reach megabytes
  # in /dev/shm per run): TAPEFLOW_FUZZ_KEEP=1.
  if [ "${TAPEFLOW_FUZZ_KEEP:-0}" = 1 ]; then echo "no crashes; work folder $work"
  else rm -rf "$work"; echo "no crashes"; fi
else
  echo "FAILED: see above; work folder $work"
fi
exit $failed

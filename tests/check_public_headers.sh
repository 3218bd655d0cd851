#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Public headers stay light and self-contained (DESIGN.md, "Light public headers"):
#   1. each public header compiles alone, included the way users include it (the opt-in
#      top-level headers testing.hpp and xtensor.hpp too);
#   2. tapeflow.hpp pulls in no xtensor/xtl/BLAS/CUDA header and nothing from detail/ or backends/;
#   3. tapeflow.hpp parses quickly (-fsyntax-only under 3 s; the target is about 1 s).
# Usage: bash check_public_headers.sh <source_root> <include_root>
#   where <include_root>/tapeflow points at <source_root>.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 <source_root> <include_root>" >&2
  exit 2
fi
src_root=$(cd "$1" && pwd) || { echo "FAIL: no source root '$1'" >&2; exit 2; }
inc_root=$(cd "$2" && pwd) || { echo "FAIL: no include root '$2'" >&2; exit 2; }
CXX=${CXX:-g++}
MAX_SYNTAX_SECONDS=${MAX_SYNTAX_SECONDS:-3}
LINE_BUDGET=60000

if [ ! -e "$inc_root/tapeflow/tapeflow.hpp" ]; then
  echo "FAIL: $inc_root/tapeflow/tapeflow.hpp not found (is $inc_root/tapeflow a link to $src_root?)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# --- 1. every public header alone ----------------------------------------------------------
headers=(tapeflow.hpp testing.hpp xtensor.hpp)
for dir in tensor autograd nn optim io; do
  for h in "$src_root/$dir"/*.hpp; do  # top level only: detail/ is private
    [ -e "$h" ] || continue
    headers+=("$dir/$(basename "$h")")
  done
done

echo "checking ${#headers[@]} public headers compile alone"
# One compiler per core: there are dozens of headers and each parse takes about a second.
export CXX inc_root work
printf '%s\n' "${headers[@]}" | xargs -P "$(nproc)" -I{} bash -c '
  tu="$work/tu_${1//\//_}.cpp"
  printf "#include <tapeflow/%s>\nint main() { return 0; }\n" "$1" >"$tu"
  "$CXX" -std=c++20 -fsyntax-only -I"$inc_root" "$tu" >"$tu.err" 2>&1 || touch "$tu.failed"' _ {}
for h in "${headers[@]}"; do
  tu="$work/tu_${h//\//_}.cpp"
  if [ ! -e "$tu" ] || [ -e "$tu.failed" ]; then
    fail "<tapeflow/$h> does not compile on its own:"
    [ -e "$tu.err" ] && sed 's/^/    /' "$tu.err" | head -40 >&2
  else
    echo "  ok  <tapeflow/$h>"
  fi
done

# --- 2. what tapeflow.hpp pulls in -----------------------------------------------------------
main_tu="$work/main.cpp"
printf '#include <tapeflow/tapeflow.hpp>\n' >"$main_tu"
if ! "$CXX" -std=c++20 -E -I"$inc_root" "$main_tu" >"$work/pp.txt" 2>"$work/err.txt"; then
  fail "preprocessing <tapeflow/tapeflow.hpp> failed:"
  sed 's/^/    /' "$work/err.txt" | head -40 >&2
else
  lines=$(wc -l <"$work/pp.txt")
  echo "preprocessed <tapeflow/tapeflow.hpp>: $lines lines"
  if [ "$lines" -gt "$LINE_BUDGET" ]; then
    echo "  warning: more than the $LINE_BUDGET-line budget of STYLE.md" >&2
  fi
  # Line markers look like: # 1 "/path/to/file.hpp" 1
  sed -n 's/^# [0-9][0-9]* "\([^"]*\)".*/\1/p' "$work/pp.txt" | sort -u >"$work/files.txt"
  echo "  $(wc -l <"$work/files.txt") distinct files"
  while IFS= read -r path; do
    case "$path" in "<"*) continue ;; esac  # <built-in>, <command-line>
    # Judge tapeflow's own files by their path inside the project, so that a build or checkout
    # folder named e.g. build-cuda does not trip the check.
    rel="$path"
    case "$path" in
      "$inc_root"/tapeflow/*) rel="tapeflow/${path#"$inc_root"/tapeflow/}" ;;
      "$src_root"/*) rel="tapeflow/${path#"$src_root"/}" ;;
      "$main_tu") continue ;;
    esac
    lower=$(printf '%s' "$rel" | tr '[:upper:]' '[:lower:]')
    case "$lower" in
      *xtensor*|*xtl*|*cblas*|*openblas*|*cuda*|*/detail/*|detail/*|*/backends/*|backends/*)
        fail "<tapeflow/tapeflow.hpp> includes a private or heavy header: $path" ;;
    esac
  done <"$work/files.txt"
fi

# --- 3. how long tapeflow.hpp takes to parse -------------------------------------------------
start=$(date +%s.%N)
if ! "$CXX" -std=c++20 -fsyntax-only -I"$inc_root" "$main_tu" >"$work/err.txt" 2>&1; then
  fail "<tapeflow/tapeflow.hpp> does not compile:"
  sed 's/^/    /' "$work/err.txt" | head -40 >&2
fi
end=$(date +%s.%N)
elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
echo "g++ -fsyntax-only <tapeflow/tapeflow.hpp>: ${elapsed} s (limit ${MAX_SYNTAX_SECONDS} s, target about 1 s)"
if awk -v t="$elapsed" -v m="$MAX_SYNTAX_SECONDS" 'BEGIN { exit !(t > m) }'; then
  fail "<tapeflow/tapeflow.hpp> took ${elapsed} s to parse, over ${MAX_SYNTAX_SECONDS} s"
fi

if [ "$failures" -gt 0 ]; then
  echo "public header check: $failures failure(s)" >&2
  exit 1
fi
echo "public header check: all passed"

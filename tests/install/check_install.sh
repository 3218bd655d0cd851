#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The installed library works for a user who has nothing but the install:
#   1. `meson install --destdir` of the current build dir into a temporary stage;
#   2. the staged libtapeflow.so.X.Y.Z has SONAME libtapeflow.so.0, the .so and .so.0 links
#      exist, and no build-tree RUNPATH leaked into it;
#   3. nothing private is installed (no detail/ or backends/ folder under include/tapeflow/),
#      and every public header of the source tree is;
#   4. every installed header compiles alone with only `pkg-config --cflags tapeflow`;
#   5. consumer.cpp (a gradient checked against a hand-derived value, one SGD step of an
#      nn::Linear) compiles and links with only `pkg-config --cflags --libs tapeflow`, every
#      tapeflow header it reads comes from the stage (so each header tapeflow.hpp reaches was
#      installed), and it runs against the staged libtapeflow.so.0 and prints "consumer: ok".
# Usage: bash check_install.sh <build_dir> <source_root> <consumer.cpp> [meson]
# Set KEEP_WORK=1 to keep the stage for a look after a failure.
set -u

if [ $# -lt 3 ]; then
  echo "usage: $0 <build_dir> <source_root> <consumer.cpp> [meson]" >&2
  exit 2
fi
build=$(cd "$1" && pwd) || { echo "FAIL: no build dir '$1'" >&2; exit 2; }
src_root=$(cd "$2" && pwd) || { echo "FAIL: no source root '$2'" >&2; exit 2; }
consumer=$3
[ -f "$consumer" ] || { echo "FAIL: no consumer source '$consumer'" >&2; exit 2; }
MESON=${4:-meson}
CXX=${CXX:-g++}

# Only what pkg-config says may reach the compiler: no include or library path from the
# environment (CPATH could point at the source tree and hide a header missing from the install).
unset CPATH CPLUS_INCLUDE_PATH C_INCLUDE_PATH LIBRARY_PATH LD_LIBRARY_PATH PKG_CONFIG_LIBDIR

work=$(mktemp -d "${TMPDIR:-/tmp}/tapeflow-install.XXXXXX")
if [ "${KEEP_WORK:-0}" = 1 ]; then
  echo "keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi
stage="$work/stage"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# An error after which nothing else can be checked.
die() {
  echo "FAIL: $*" >&2
  echo "install check: stopped" >&2
  exit 1
}
show() { sed 's/^/    /' "$1" | head -n "${2:-40}" >&2; }

# --- 1. install into the stage ---------------------------------------------------------------
echo "meson install --no-rebuild --destdir $stage"
if ! "$MESON" install -C "$build" --no-rebuild --destdir "$stage" >"$work/install.log" 2>&1; then
  show "$work/install.log" 60
  die "meson install failed (was the build dir '$build' built?)"
fi

mapfile -t pcs < <(find "$stage" -name tapeflow.pc)
[ "${#pcs[@]}" -eq 1 ] || die "expected one staged tapeflow.pc, found ${#pcs[@]}: ${pcs[*]:-none}"
pcdir=$(dirname "${pcs[0]}")
echo "staged pkg-config file: ${pcs[0]#"$stage"}"

# Point pkg-config at the stage. Variables in tapeflow.pc hold the final prefix
# (prefix=/usr/local, libdir=${prefix}/lib/x86_64-linux-gnu), so:
#   - PKG_CONFIG_PATH puts the staged .pc first (ahead of any tapeflow.pc already on the system),
#     while the system's .pc files stay reachable for any Requires entries (static builds);
#   - PKG_CONFIG_SYSROOT_DIR makes pkgconf put the stage in front of every -I and -L it prints.
# Not `--define-prefix`: pkgconf derives the prefix by stripping `pkgconfig` and ONE more folder
# from the .pc's location, which on Debian's multiarch libdir (lib/x86_64-linux-gnu/pkgconfig)
# gives <stage>/usr/local/lib, so includedir and libdir come out wrong.
# The sysroot would also prefix the -I flags of any system package tapeflow.pc required (and
# so stop pkgconf from dropping -I/usr/include); the check below wants none.
pc() { PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config "$@"; }
used_pc=$(pc --variable=pcfiledir tapeflow)
[ "$used_pc" = "$pcdir" ] || die "pkg-config used tapeflow.pc from '$used_pc', not from the stage '$pcdir'"
if ! cflags=$(pc --cflags tapeflow 2>"$work/pc.err"); then
  show "$work/pc.err"
  die "pkg-config --cflags tapeflow failed on the staged tapeflow.pc"
fi
libs=$(pc --libs tapeflow) || die "pkg-config --libs tapeflow failed on the staged tapeflow.pc"
echo "pkg-config --cflags --libs tapeflow: $cflags $libs"

# pkgconf 1.8 already puts the sysroot in front of path variables; older ones do not.
staged() { case "$1" in "$stage"/*) echo "$1" ;; *) echo "$stage$1" ;; esac; }
incdir=$(staged "$(pc --variable=includedir tapeflow)")
libdir=$(staged "$(pc --variable=libdir tapeflow)")
case " $cflags " in
  *" -I$incdir "*) ;;
  *) fail "Cflags '$cflags' lack -I$incdir (the staged include dir)" ;;
esac
case " $libs " in
  *" -L$libdir "*) ;;
  *) fail "Libs '$libs' lack -L$libdir (the staged lib dir)" ;;
esac
case " $libs " in
  *" -ltapeflow "*) ;;
  *) fail "Libs '$libs' lack -ltapeflow" ;;
esac
case " $cflags " in
  *" -std=c++20 "*|*" -std=gnu++20 "*) ;;
  *) fail "Cflags '$cflags' lack -std=c++20 (the public headers need C++20; g++ 12 defaults to C++17)" ;;
esac
# Users get the staged include dir and -std=c++20, nothing else: the public headers use the
# standard library only, so a dependency's flags here (through Requires.private, which
# `pkg-config --cflags` follows) would only make users install its -dev package for nothing.
# A static libtapeflow needs its dependencies listed, so that case is let through.
if ! find "$stage" -name 'libtapeflow.a' | grep -q .; then
  for f in $cflags; do
    case "$f" in
      "-I$incdir"|-std=*) ;;
      *) fail "Cflags carry '$f' besides tapeflow's include dir: a dependency leaks to users (Requires: $(pc --print-requires tapeflow | tr '\n' ' ') Requires.private: $(pc --print-requires-private tapeflow | tr '\n' ' '))" ;;
    esac
  done
fi
for f in $cflags $libs; do
  case "$f" in
    *"$src_root"*|*"$build"*) fail "pkg-config flag '$f' points into the source or build tree" ;;
  esac
done

# --- 2. the shared library -------------------------------------------------------------------
real=$(find "$libdir" -maxdepth 1 -type f -name 'libtapeflow.so.*' | head -1)
if [ -z "$real" ]; then
  die "no libtapeflow.so.* file under ${libdir#"$stage"}"
fi
echo "staged library: ${real#"$stage"}"
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libtapeflow.so.0" ] || fail "SONAME of $(basename "$real") is '${soname:-none}', expected libtapeflow.so.0"
for link in libtapeflow.so libtapeflow.so.0; do
  if [ ! -L "$libdir/$link" ]; then
    fail "$link is not a symlink in ${libdir#"$stage"}"
  elif [ "$(readlink -f "$libdir/$link")" != "$(readlink -f "$real")" ]; then
    fail "$link -> $(readlink "$libdir/$link") does not lead to $(basename "$real")"
  fi
done
runpath=$(readelf -d "$real" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
case "$runpath" in
  *"$build"*|*"$src_root"*) fail "installed library keeps the build-tree RUNPATH '$runpath'" ;;
esac

# --- 3. nothing private installed ------------------------------------------------------------
[ -e "$incdir/tapeflow/tapeflow.hpp" ] || die "tapeflow.hpp not installed at ${incdir#"$stage"}/tapeflow/"
private=$(cd "$incdir/tapeflow" && find . -path '*/detail/*' -o -path '*/backends/*' -o -name detail -o -name backends)
if [ -n "$private" ]; then
  fail "private files installed under include/tapeflow/: $(echo "$private" | tr '\n' ' ')"
fi
others=$(cd "$incdir/tapeflow" && find . -type f ! -name '*.hpp')
[ -z "$others" ] || fail "non-header files installed under include/tapeflow/: $(echo "$others" | tr '\n' ' ')"
mapfile -t installed < <(cd "$incdir/tapeflow" && find . -name '*.hpp' | sed 's|^\./||' | sort)
echo "installed headers: ${#installed[@]}"
# The same rule as tests/check_public_headers.sh: the headers at the top of the source root and
# of each layer folder are public (detail/ below them is not), so each must be installed, also
# one that tapeflow.hpp does not reach (an opt-in header such as xtensor.hpp).
missing=$(cd "$src_root" && for f in *.hpp tensor/*.hpp autograd/*.hpp nn/*.hpp optim/*.hpp io/*.hpp; do
  [ -e "$f" ] && [ ! -e "$incdir/tapeflow/$f" ] && echo "$f"; done)
[ -z "$missing" ] || fail "public headers of the source tree not installed (add them to public_headers): $(echo "$missing" | tr '\n' ' ')"

# --- 4. each installed header alone ----------------------------------------------------------
# Catches an installed header that includes one that was not installed, also for headers that
# tapeflow.hpp does not reach (opt-in headers). One compiler per core.
mkdir "$work/alone"
export CXX cflags work
# shellcheck disable=SC2016  # expanded by the inner bash
printf '%s\n' "${installed[@]}" | xargs -P "$(nproc)" -I{} bash -c '
  tu="$work/alone/${1//\//_}.cpp"
  printf "#include <tapeflow/%s>\nint main() { return 0; }\n" "$1" >"$tu"
  "$CXX" -fsyntax-only $cflags "$tu" >"$tu.err" 2>&1 || touch "$tu.failed"' _ {}
alone_failed=0
for h in "${installed[@]}"; do
  tu="$work/alone/${h//\//_}.cpp"
  if [ -e "$tu.failed" ] || [ ! -e "$tu.err" ]; then
    alone_failed=$((alone_failed + 1))
    # The first errors of the first three headers say enough; the rest would repeat them.
    if [ "$alone_failed" -le 3 ]; then
      fail "installed <tapeflow/$h> does not compile alone against the stage:"
      [ -e "$tu.err" ] && { grep -m3 -E 'error' "$tu.err" || head -5 "$tu.err"; } | sed 's/^/    /' >&2
    else
      echo "FAIL: installed <tapeflow/$h> does not compile alone against the stage" >&2
    fi
  fi
done
if [ "$alone_failed" -gt 3 ]; then
  fail "$alone_failed of ${#installed[@]} installed headers do not compile alone"
fi

# --- 5. the consumer -------------------------------------------------------------------------
# Compiled from a copy inside the stage, away from the source tree; -MD lists every file read.
mkdir "$work/consumer"
cp "$consumer" "$work/consumer/consumer.cpp"
exe="$work/consumer/consumer"
echo "$CXX consumer.cpp -o consumer \$(pkg-config --cflags --libs tapeflow)"
# shellcheck disable=SC2086  # the flags are word lists on purpose
if ! (cd "$work/consumer" && "$CXX" consumer.cpp -o "$exe" $cflags $libs -MD -MF deps.d) >"$work/compile.log" 2>&1; then
  show "$work/compile.log" 40
  die "consumer.cpp does not compile and link with only the pkg-config flags of the staged install"
fi
# Every tapeflow header read must come from the stage, none from the source or build tree.
sed -e 's/^[^:]*://' -e 's/\\$//' "$work/consumer/deps.d" | tr -s ' ' '\n' | sed '/^$/d' >"$work/deps.txt"
read_from_stage=0
while IFS= read -r dep; do
  case "$dep" in
    consumer.cpp) ;;
    "$incdir"/tapeflow/*) read_from_stage=$((read_from_stage + 1)) ;;
    *"$src_root"*|*"$build"*) fail "consumer read $dep from the source or build tree, not the install" ;;
    */tapeflow/*) fail "consumer read a tapeflow header from outside the stage: $dep" ;;
  esac
done <"$work/deps.txt"
echo "consumer read $read_from_stage tapeflow headers from the stage"
[ "$read_from_stage" -gt 1 ] || fail "consumer read no tapeflow header from the stage (deps: $(tr '\n' ' ' <"$work/deps.txt"))"

ldd_line=$(LD_LIBRARY_PATH="$libdir" ldd "$exe" | grep libtapeflow)
case "$ldd_line" in
  *"=> $libdir/libtapeflow.so.0 "*) ;;
  *) fail "consumer does not load the staged libtapeflow.so.0: '$ldd_line'" ;;
esac
out=$(LD_LIBRARY_PATH="$libdir" "$exe" 2>&1)
rc=$?
echo "$out" | sed 's/^/  /'
if [ "$rc" -ne 0 ]; then
  fail "consumer exited with $rc"
elif [ "$out" != "consumer: ok" ]; then
  fail "consumer printed '$out', expected 'consumer: ok'"
fi

if [ "$failures" -gt 0 ]; then
  echo "install check: $failures failure(s)" >&2
  exit 1
fi
echo "install check: passed"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Prints the symbolizer the sanitizer scripts name in external_symbolizer_path (nothing if none),
# shared by asan.sh, tsan.sh and ../fuzz/run.sh. The runtimes' own PATH lookup fails on Debian
# bookworm ("invalid path to external symbolizer"), so the path is always given. clang 19 writes
# DWARF 5, which an older llvm-symbolizer (Debian's default llvm-14) may misread; binutils'
# addr2line reads it, and the runtimes accept it in the same option.
for candidate in "$(command -v llvm-symbolizer-19)" /usr/lib/llvm-19/bin/llvm-symbolizer "$(command -v addr2line)"; do
  if [[ -n $candidate && -x $candidate ]]; then
    echo "$candidate"
    exit 0
  fi
done
